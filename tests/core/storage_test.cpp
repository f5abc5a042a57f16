// Store conformance (memory + file backends), file-store persistence, format checks,
// cross-process CAS and uncoordinated readers, and the fault-injecting wrapper.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>

#include "datalith/store.h"
#include "fault_injecting_store.h"

namespace fs = std::filesystem;
using datalith::Address;
using datalith::Code;
using datalith::FaultInjectingStore;
using datalith::Store;

namespace {

// A fresh directory under /tmp, removed with everything in it on scope exit.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/datalith-storage-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::pair<Address, std::string> Blob(const std::string& bytes) {
  return {Address::Of(bytes), bytes};
}

std::shared_ptr<Store> MustOpen(const std::string& dir, bool create) {
  auto r = datalith::OpenFileStore(dir, create);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Increments decimal head `name` by one with a read/CAS/retry loop.
bool IncrementCounter(Store& s, const std::string& name) {
  for (;;) {
    auto cur = s.GetHead(name);
    if (!cur.ok()) return false;
    long n = cur->has_value() ? std::stol(**cur) : 0;
    auto st = s.CasHead(name, *cur, std::to_string(n + 1));
    if (st.ok()) return true;
    if (st.code() != Code::kConflict) return false;
  }
}

// The store's pack files, sorted.
std::vector<std::string> PackFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir + "/packs")) {
    if (e.path().extension() == ".pack") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int WaitChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("Address hex round trip and hashing", "[storage]") {
  Address zero;
  CHECK(zero.IsZero());
  CHECK(zero.Hex() == std::string(32, '0'));

  Address a = Address::Of("hello");
  CHECK_FALSE(a.IsZero());
  CHECK(a == Address::Of("hello"));  // deterministic
  CHECK(a != Address::Of("hello!"));
  CHECK(Address::Of("") != zero);
  std::string hex = a.Hex();
  CHECK(hex.size() == 32);
  CHECK(std::all_of(hex.begin(), hex.end(),
                    [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
  auto back = Address::FromHex(hex);
  REQUIRE(back.ok());
  CHECK(*back == a);

  // Upper case is accepted on input; output is always lower case.
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  REQUIRE(Address::FromHex(upper).ok());
  CHECK(Address::FromHex(upper)->Hex() == hex);

  // Byte order: bytes[0] is the first hex pair.
  auto ordered = Address::FromHex("000102030405060708090a0b0c0d0e0f");
  REQUIRE(ordered.ok());
  for (int i = 0; i < 16; ++i) CHECK(ordered->bytes[i] == i);

  // XXH3-128 of the empty input (reference value), stored high64 then low64.
  CHECK(Address::Of("").Hex() == "99aa06d3014798d86001c324468d497f");

  auto short_hex = Address::FromHex("abc");
  CHECK(short_hex.status().code() == Code::kInvalidArgument);
  CHECK(short_hex.status().message().find("abc") != std::string::npos);
  auto bad_char = Address::FromHex(std::string(31, '0') + "g");
  CHECK(bad_char.status().code() == Code::kInvalidArgument);
  CHECK(bad_char.status().message().find(std::string(31, '0') + "g") != std::string::npos);

  datalith::AddressHash h;
  CHECK(h(a) == h(Address::Of("hello")));
}

namespace {

// What every backend must do (store.h's contract), on a fresh store `s`.
void CheckConformance(const std::shared_ptr<Store>& s) {
  auto b1 = Blob("first blob");
  auto b2 = Blob(std::string("binary\0bytes\xff", 13));
  auto b3 = Blob("");

  SECTION("get of absent is NotFound naming the address") {
    auto r = s->Get(b1.first);
    CHECK(r.status().code() == Code::kNotFound);
    CHECK(r.status().message().find(b1.first.Hex()) != std::string::npos);
  }

  SECTION("put then get, idempotent put") {
    REQUIRE(s->Put({b1, b2, b3}).ok());
    REQUIRE(s->Put({b1}).ok());
    REQUIRE(s->Put({}).ok());
    REQUIRE(s->Sync().ok());
    for (const auto& b : {b1, b2, b3}) {
      auto r = s->Get(b.first);
      REQUIRE(r.ok());
      CHECK(*r == b.second);
    }
    auto list = s->List();
    REQUIRE(list.ok());
    std::vector<Address> want = {b1.first, b2.first, b3.first};
    std::sort(want.begin(), want.end());
    std::vector<Address> got = *list;
    std::sort(got.begin(), got.end());
    CHECK(got == want);
  }

  SECTION("delete") {
    REQUIRE(s->Put({b1, b2}).ok());
    REQUIRE(s->Delete(b1.first).ok());
    CHECK(s->Get(b1.first).status().code() == Code::kNotFound);
    CHECK(s->Get(b2.first).ok());
    CHECK(s->Delete(b1.first).ok());  // absent: fine
    CHECK(s->Sync().ok());            // a blob deleted before Sync is not an error
    auto list = s->List();
    REQUIRE(list.ok());
    CHECK(*list == std::vector<Address>{b2.first});
    // A deleted blob can be put again.
    REQUIRE(s->Put({b1}).ok());
    CHECK(s->Get(b1.first).ok());
  }

  SECTION("heads and compare-and-set") {
    auto absent = s->GetHead("main");
    REQUIRE(absent.ok());
    CHECK_FALSE(absent->has_value());

    // expected = nullopt: create only if absent.
    REQUIRE(s->CasHead("main", std::nullopt, "v1").ok());
    CHECK(s->CasHead("main", std::nullopt, "v1b").code() == Code::kConflict);
    CHECK(**s->GetHead("main") == "v1");

    // Wrong expected value: conflict, nothing changes.
    CHECK(s->CasHead("main", std::string("v0"), "v2").code() == Code::kConflict);
    CHECK(**s->GetHead("main") == "v1");

    REQUIRE(s->CasHead("main", std::string("v1"), "v2").ok());
    CHECK(**s->GetHead("main") == "v2");
    // An empty value is a value, not absence.
    REQUIRE(s->CasHead("main", std::string("v2"), "").ok());
    auto empty = s->GetHead("main");
    REQUIRE(empty.ok());
    REQUIRE(empty->has_value());
    CHECK(**empty == "");
    CHECK(s->CasHead("main", std::nullopt, "x").code() == Code::kConflict);

    // Expecting a value of an absent head conflicts.
    CHECK(s->CasHead("other", std::string("v1"), "x").code() == Code::kConflict);
    CHECK_FALSE(s->GetHead("other")->has_value());

    REQUIRE(s->CasHead("feature-1.x_y", std::nullopt, "f").ok());
    auto heads = s->ListHeads();
    REQUIRE(heads.ok());
    std::vector<std::string> names = *heads;
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"feature-1.x_y", "main"});

    REQUIRE(s->DeleteHead("main").ok());
    CHECK_FALSE(s->GetHead("main")->has_value());
    CHECK(s->DeleteHead("main").ok());  // absent: fine
    CHECK(*s->ListHeads() == std::vector<std::string>{"feature-1.x_y"});
    // After deletion the head can be created again from nullopt.
    CHECK(s->CasHead("main", std::nullopt, "v3").ok());
  }

  SECTION("invalid head names") {
    for (const std::string& bad : {std::string(""), std::string("a/b"), std::string(".."),
                                   std::string("."), std::string("sp ace"),
                                   std::string("#tmp"), std::string(129, 'a'),
                                   std::string("nul\0x", 5), std::string("\xc3\xa9")}) {
      INFO("name: " << bad);
      CHECK(s->GetHead(bad).status().code() == Code::kInvalidArgument);
      CHECK(s->CasHead(bad, std::nullopt, "v").code() == Code::kInvalidArgument);
      CHECK(s->DeleteHead(bad).code() == Code::kInvalidArgument);
    }
    CHECK(s->CasHead(std::string(128, 'a'), std::nullopt, "v").ok());
    CHECK(s->ListHeads()->size() == 1);
  }
}

}  // namespace

TEST_CASE("Store conformance", "[storage]") {
  TempDir tmp;
  std::string backend = GENERATE(as<std::string>{}, "memory", "file");
  INFO("backend: " << backend);
  CheckConformance(backend == "memory" ? datalith::MakeMemoryStore() : MustOpen(tmp.Sub("store"), true));
}

// Hidden ([.postgres]): needs a cluster; ctest runs it as store_postgres through
// tests/support/postgres.sh, which starts one and sets DATALITH_PG.
TEST_CASE("Postgres store conformance", "[.postgres]") {
  const char* pg = std::getenv("DATALITH_PG");
  REQUIRE(pg != nullptr);
  static int n = 0;
  // Each run of a section gets a database of its own; the tables are shared.
  auto s = datalith::OpenPostgresStore(pg, "conformance-" + std::to_string(::getpid()) + "-" + std::to_string(n++),
                                       /*gc_grace_s=*/0);
  REQUIRE(s.ok());
  CheckConformance(*s);
}

TEST_CASE("Postgres stores: databases are apart, a second process sees writes and head moves", "[.postgres]") {
  const char* pg = std::getenv("DATALITH_PG");
  REQUIRE(pg != nullptr);
  const std::string name = "shared-" + std::to_string(::getpid());
  auto a = datalith::OpenPostgresStore(pg, name), b = datalith::OpenPostgresStore(pg, name);
  auto other = datalith::OpenPostgresStore(pg, name + "-other");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(other.ok());
  std::mutex mu;
  std::vector<std::string> heard;
  auto watch = datalith::WatchPostgresHeads(pg, [&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mu);
    heard.push_back(m);
  });
  REQUIRE(watch.ok());
  auto blob = Blob("shared");
  REQUIRE((*a)->Put({blob}).ok());
  CHECK((*b)->Get(blob.first).ok());
  CHECK((*other)->Get(blob.first).status().code() == Code::kNotFound);
  // Wait until the watch listens (it says so with an empty message), then move heads.
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!heard.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE((*a)->CasHead("main", std::nullopt, "c1").ok());
  CHECK((*b)->CasHead("main", std::nullopt, "c2").code() == Code::kConflict);
  CHECK((*b)->CasHead("main", std::string("c1"), "c2").ok());
  CHECK(**(*a)->GetHead("main") == "c2");
  CHECK_FALSE((*other)->GetHead("main")->has_value());
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (heard.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::lock_guard<std::mutex> lock(mu);
  CHECK(heard == std::vector<std::string>{"", name + " main", name + " main"});  // a refused move notifies nobody
  // GC keeps what was just written, by default (another process's commit may be about to reach it).
  CHECK((*a)->DeleteMany({blob.first}).ok());
  CHECK((*b)->Get(blob.first).ok());
}

TEST_CASE("File store persists across reopen", "[storage]") {
  TempDir tmp;
  std::string dir = tmp.Sub("nested/store");  // parents are created too
  auto b1 = Blob("persisted");
  auto b2 = Blob(std::string(100000, 'z'));
  {
    auto s = MustOpen(dir, true);
    REQUIRE(s->Put({b1, b2}).ok());
    REQUIRE(s->CasHead("main", std::nullopt, b1.first.Hex()).ok());  // implies Sync
  }
  CHECK(fs::exists(dir + "/FORMAT"));
  CHECK(PackFiles(dir).size() == 1);  // one Put, one pack
  CHECK(fs::exists(dir + "/heads/main"));

  auto s = MustOpen(dir, false);
  CHECK(**s->GetHead("main") == b1.first.Hex());
  CHECK(*s->Get(b1.first) == b1.second);
  CHECK(*s->Get(b2.first) == b2.second);
  CHECK(s->List()->size() == 2);
  // Opening again with create on an existing store is fine.
  auto again = MustOpen(dir, true);
  CHECK(**again->GetHead("main") == b1.first.Hex());
}

TEST_CASE("File store ignores temp files and torn packs", "[storage]") {
  TempDir tmp;
  auto s = MustOpen(tmp.path(), true);  // an existing empty directory is adopted
  auto b = Blob("some bytes"), c = Blob(std::string(5000, 'c'));
  REQUIRE(s->Put({b}).ok());
  WriteTextFile(tmp.path() + "/packs/#tmp-999-1", "partial");
  WriteTextFile(tmp.path() + "/heads/#tmp-999-2", "partial");
  CHECK(s->List()->size() == 1);
  CHECK(s->ListHeads()->empty());

  // A pack cut short (renamed into place, then a power loss before its data reached the
  // disk) has no valid footer: a fresh store ignores it and the blob can be put again.
  auto before = PackFiles(tmp.path());
  REQUIRE(s->Put({c}).ok());
  auto after = PackFiles(tmp.path());
  REQUIRE(after.size() == 2);
  std::string torn = after[0] == before[0] ? after[1] : after[0];
  fs::resize_file(torn, fs::file_size(torn) - 10);
  auto fresh = MustOpen(tmp.path(), false);
  CHECK(*fresh->Get(b.first) == b.second);
  auto r = fresh->Get(c.first);
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(r.status().message().find(torn) != std::string::npos);  // names the damaged pack
  CHECK(*fresh->List() == std::vector<Address>{b.first});
  REQUIRE(fresh->Put({c}).ok());
  REQUIRE(fresh->Sync().ok());
  CHECK(*fresh->Get(c.first) == c.second);
  CHECK(MustOpen(tmp.path(), false)->List()->size() == 2);
}

TEST_CASE("File store detects a corrupt pack footer", "[storage]") {
  TempDir tmp;
  auto b1 = Blob("alpha"), b2 = Blob("beta");
  { REQUIRE(MustOpen(tmp.path(), true)->Put({b1, b2}).ok()); }
  auto packs = PackFiles(tmp.path());
  REQUIRE(packs.size() == 1);
  std::ifstream in(packs[0], std::ios::binary);
  std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The footer ends with the trailer: data size 8, count 4, version 4, checksum 8,
  // magic 8. Damage an index entry, the count, the checksum and the magic in turn.
  struct Case {
    size_t from_end;
    std::string why;
  };
  for (const Case& k : {Case{32 + 5, "checksum"}, Case{32 - 9, "do not add up"},
                        Case{32 - 17, "checksum"}, Case{3, "magic"}}) {
    INFO("byte " << k.from_end << " from the end");
    std::string bad = good;
    bad[bad.size() - k.from_end] ^= 0x40;
    WriteTextFile(packs[0], bad);
    auto s = MustOpen(tmp.path(), false);
    auto r = s->Get(b1.first);
    CHECK(r.status().code() == Code::kNotFound);
    CHECK(r.status().message().find(packs[0]) != std::string::npos);
    CHECK(r.status().message().find(k.why) != std::string::npos);
    CHECK(s->List()->empty());
  }
  WriteTextFile(packs[0], good);
  CHECK(*MustOpen(tmp.path(), false)->Get(b2.first) == b2.second);
}

TEST_CASE("File store sees packs another store instance wrote after open", "[storage]") {
  TempDir tmp;
  auto writer = MustOpen(tmp.path(), true);
  auto reader = MustOpen(tmp.path(), false);
  auto b1 = Blob("early"), b2 = Blob("late"), b3 = Blob(std::string(70000, 'x'));
  auto b4 = Blob("later still");
  REQUIRE(writer->Put({b1}).ok());
  CHECK(*reader->Get(b1.first) == b1.second);  // the reader's index is loaded now
  REQUIRE(writer->Put({b2, b3}).ok());
  REQUIRE(writer->Sync().ok());
  CHECK(reader->List()->size() == 3);  // List rescans packs/
  REQUIRE(writer->Put({b4}).ok());
  CHECK(*reader->Get(b4.first) == b4.second);  // and so does a Get that misses
  // The writer's GC rewrites the pack of b2 and b3 (b3 dies, so it is mostly dead).
  // The reader indexed that pack but never opened it: it rebuilds and finds b2 in the
  // new pack.
  REQUIRE(writer->DeleteMany({b3.first}).ok());
  CHECK(*reader->Get(b2.first) == b2.second);
  CHECK(reader->Get(b3.first).status().code() == Code::kNotFound);
  CHECK(reader->List()->size() == 3);
}

TEST_CASE("File store GC rewrites mostly dead packs and unlinks dead ones", "[storage]") {
  TempDir tmp;
  auto s = MustOpen(tmp.path(), true);
  std::vector<std::pair<Address, std::string>> blobs;
  for (int i = 0; i < 10; ++i) blobs.push_back(Blob(std::string(10000, 'a' + i)));
  REQUIRE(s->Put(blobs).ok());
  auto lone = Blob("alone in its pack");
  REQUIRE(s->Put({lone}).ok());
  REQUIRE(s->Sync().ok());
  REQUIRE(PackFiles(tmp.path()).size() == 2);
  std::string big;
  for (const auto& p : PackFiles(tmp.path())) {
    if (fs::file_size(p) > 100000) big = p;
  }
  REQUIRE(!big.empty());

  // 4 of 10 dead: recorded, the pack stays as it is.
  REQUIRE(s->DeleteMany({blobs[0].first, blobs[1].first, blobs[2].first, blobs[3].first}).ok());
  CHECK(fs::exists(big));
  CHECK(s->Get(blobs[0].first).status().code() == Code::kNotFound);
  CHECK(s->List()->size() == 7);
  // 6 of 10 dead: the 4 live blobs move to a new pack, the old one goes.
  REQUIRE(s->DeleteMany({blobs[4].first, blobs[5].first}).ok());
  CHECK_FALSE(fs::exists(big));
  // Fully dead: unlinked without a rewrite.
  REQUIRE(s->Delete(lone.first).ok());
  auto packs = PackFiles(tmp.path());
  REQUIRE(packs.size() == 1);
  CHECK(fs::file_size(packs[0]) < 45000);
  for (int i = 0; i < 10; ++i) {
    INFO("blob " << i);
    auto r = s->Get(blobs[i].first);
    if (i < 6) {
      CHECK(r.status().code() == Code::kNotFound);
    } else {
      REQUIRE(r.ok());
      CHECK(*r == blobs[i].second);
    }
  }
  // The rewrite is durable on its own and survives a reopen.
  auto again = MustOpen(tmp.path(), false);
  CHECK(again->List()->size() == 4);
  CHECK(*again->Get(blobs[9].first) == blobs[9].second);
  CHECK(again->Get(lone.first).status().code() == Code::kNotFound);
}

TEST_CASE("File store checks FORMAT", "[storage]") {
  TempDir tmp;

  SECTION("missing directory without create") {
    auto r = datalith::OpenFileStore(tmp.Sub("nope"), false);
    CHECK(r.status().code() == Code::kNotFound);
    CHECK(r.status().message().find("nope") != std::string::npos);
  }

  SECTION("foreign directory is rejected, with or without create") {
    std::string dir = tmp.Sub("foreign");
    fs::create_directories(dir);
    WriteTextFile(dir + "/notes.txt", "not a store");
    for (bool create : {false, true}) {
      auto r = datalith::OpenFileStore(dir, create);
      CHECK(r.status().code() == Code::kInvalidArgument);
      CHECK(r.status().message().find("not a datalith store") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(dir + "/FORMAT"));  // nothing was written into it
  }

  SECTION("empty directory without create is rejected") {
    auto r = datalith::OpenFileStore(tmp.path(), false);
    CHECK(r.status().code() == Code::kInvalidArgument);
  }

  SECTION("other format version") {
    std::string dir = tmp.Sub("v3");
    { MustOpen(dir, true); }
    WriteTextFile(dir + "/FORMAT", "datalith-store 3\n");
    auto r = datalith::OpenFileStore(dir, false);
    CHECK(r.status().code() == Code::kUnsupported);
    CHECK(r.status().message().find("`3`") != std::string::npos);
  }

  SECTION("version 1 (one file per blob) is refused") {
    std::string dir = tmp.Sub("v1");
    fs::create_directories(dir + "/blobs/ab");
    fs::create_directories(dir + "/heads");
    WriteTextFile(dir + "/FORMAT", "datalith-store 1\n");
    for (bool create : {false, true}) {
      auto r = datalith::OpenFileStore(dir, create);
      CHECK(r.status().code() == Code::kUnsupported);
      CHECK(r.status().message().find(dir + "/FORMAT") != std::string::npos);
      CHECK(r.status().message().find("`1`") != std::string::npos);
      CHECK(r.status().message().find("recreate") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(dir + "/packs"));  // nothing was written into it
  }

  SECTION("garbage FORMAT") {
    std::string dir = tmp.Sub("junk");
    { MustOpen(dir, true); }
    WriteTextFile(dir + "/FORMAT", "something else\n");
    CHECK(datalith::OpenFileStore(dir, true).status().code() == Code::kInvalidArgument);
  }

  SECTION("a regular file is not a directory") {
    WriteTextFile(tmp.Sub("file"), "x");
    CHECK(datalith::OpenFileStore(tmp.Sub("file"), true).status().code() ==
          Code::kInvalidArgument);
  }
}

TEST_CASE("File store CasHead is atomic across processes", "[storage]") {
  TempDir tmp;
  std::string dir = tmp.Sub("store");
  { MustOpen(dir, true); }
  constexpr int kIncrements = 200;

  // Each process opens its own store after fork so nothing is shared but the files.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto r = datalith::OpenFileStore(dir, false);
    if (!r.ok()) ::_exit(2);
    for (int i = 0; i < kIncrements; ++i) {
      if (!IncrementCounter(**r, "counter")) ::_exit(3);
    }
    ::_exit(0);
  }
  auto s = MustOpen(dir, false);
  bool ok = true;
  for (int i = 0; i < kIncrements && ok; ++i) ok = IncrementCounter(*s, "counter");
  CHECK(ok);
  CHECK(WaitChild(pid) == 0);
  auto v = s->GetHead("counter");
  REQUIRE(v.ok());
  REQUIRE(v->has_value());
  CHECK(**v == std::to_string(2 * kIncrements));
}

TEST_CASE("File store readers need no coordination with a writer process", "[storage]") {
  TempDir tmp;
  std::string dir = tmp.Sub("store");
  auto s = MustOpen(dir, true);
  constexpr int kMoves = 100;

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto r = datalith::OpenFileStore(dir, false);
    if (!r.ok()) ::_exit(2);
    Store& w = **r;
    std::optional<std::string> prev;
    for (int i = 0; i < kMoves; ++i) {
      // Large enough that a partially written file would be visible as a short read.
      std::string bytes = "commit " + std::to_string(i) + " " + std::string(64 * 1024 + i, 'a' + i % 26);
      auto blob = Blob(bytes);
      if (!w.Put({blob}).ok()) ::_exit(3);
      std::string next = blob.first.Hex();
      if (!w.CasHead("main", prev, next).ok()) ::_exit(4);
      prev = next;
    }
    ::_exit(0);
  }

  int reads = 0, failures = 0;
  std::string failure;
  int child_status = -1;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    auto head = s->GetHead("main");
    if (!head.ok()) {
      ++failures;
      failure = head.status().ToString();
    } else if (head->has_value()) {
      auto addr = Address::FromHex(**head);
      auto bytes = addr.ok() ? s->Get(*addr) : datalith::Result<std::string>(addr.status());
      if (!bytes.ok() || Address::Of(*bytes) != *addr) {
        ++failures;
        failure = bytes.ok() ? "content does not match address " + **head : bytes.status().ToString();
      }
      ++reads;
    }
    if (done == pid) {
      child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
  }
  INFO(failure);
  CHECK(failures == 0);
  CHECK(child_status == 0);
  CHECK(reads > 0);
  CHECK(s->List()->size() == kMoves);
}

TEST_CASE("FaultInjectingStore crashes after its budget", "[storage]") {
  auto b1 = Blob("one"), b2 = Blob("two"), b3 = Blob("three"), b4 = Blob("four");

  SECTION("crash in the middle of a Put") {
    auto base = datalith::MakeMemoryStore();
    FaultInjectingStore f(base, 2);
    auto st = f.Put({b1, b2, b3, b4});
    CHECK(st.code() == Code::kIOError);
    CHECK(st.message() == "injected crash");
    CHECK(f.crashed());
    CHECK(f.mutating_ops() == 2);
    // The first two blobs made it; the rest did not.
    CHECK(base->Get(b1.first).ok());
    CHECK(base->Get(b2.first).ok());
    CHECK(base->Get(b3.first).status().code() == Code::kNotFound);
    CHECK(base->Get(b4.first).status().code() == Code::kNotFound);
    // Reads still pass through.
    CHECK(*f.Get(b1.first) == b1.second);
    CHECK(f.List()->size() == 2);
    CHECK(f.GetHead("main").ok());
    CHECK(f.ListHeads().ok());
    // Every later mutation fails and does nothing.
    CHECK(f.Put({b3}).code() == Code::kIOError);
    CHECK(f.Put({}).code() == Code::kIOError);
    CHECK(f.Sync().code() == Code::kIOError);
    CHECK(f.CasHead("main", std::nullopt, "x").code() == Code::kIOError);
    CHECK(f.Delete(b1.first).code() == Code::kIOError);
    CHECK(f.DeleteHead("main").code() == Code::kIOError);
    CHECK(base->Get(b1.first).ok());
    CHECK_FALSE(base->GetHead("main")->has_value());
    CHECK(f.mutating_ops() == 2);
  }

  SECTION("every op kind counts once, Put once per blob") {
    auto base = datalith::MakeMemoryStore();
    FaultInjectingStore f(base, 6);
    REQUIRE(f.Put({b1, b2}).ok());                       // 2
    REQUIRE(f.Sync().ok());                              // 3
    REQUIRE(f.CasHead("main", std::nullopt, "a").ok());  // 4
    REQUIRE(f.Delete(b1.first).ok());                    // 5
    REQUIRE(f.DeleteHead("main").ok());                  // 6
    CHECK(f.mutating_ops() == 6);
    CHECK_FALSE(f.crashed());
    CHECK(f.Sync().code() == Code::kIOError);
    CHECK(f.crashed());
  }

  SECTION("zero budget fails the first mutation") {
    auto base = datalith::MakeMemoryStore();
    FaultInjectingStore f(base, 0);
    CHECK(f.CasHead("main", std::nullopt, "a").code() == Code::kIOError);
    CHECK_FALSE(base->GetHead("main")->has_value());
  }

  SECTION("base errors pass through without crashing") {
    auto base = datalith::MakeMemoryStore();
    FaultInjectingStore f(base, 10);
    CHECK(f.CasHead("main", std::string("x"), "a").code() == Code::kConflict);
    CHECK_FALSE(f.crashed());
  }

  SECTION("a crash mid-Put on disk leaves a readable prefix") {
    TempDir tmp;
    std::string dir = tmp.Sub("store");
    {
      FaultInjectingStore f(MustOpen(dir, true), 3);
      CHECK(f.Put({b1, b2, b3, b4}).code() == Code::kIOError);
    }
    auto s = MustOpen(dir, false);
    CHECK(*s->Get(b1.first) == b1.second);
    CHECK(*s->Get(b2.first) == b2.second);
    CHECK(*s->Get(b3.first) == b3.second);
    CHECK(s->Get(b4.first).status().code() == Code::kNotFound);
    CHECK(s->List()->size() == 3);
  }
}
