// `datalith publish SOURCE OUT`: writes the database as immutable objects for a static
// host (docs/format.md §6): the blobs OUT lacks, each to a temporary name then renamed,
// all synced, then the head, the same way. A reader of OUT never sees a head whose
// blobs are missing.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cli.h"

namespace datalith::cli {

namespace fs = std::filesystem;

namespace {

// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
Status WriteAtomically(const fs::path& path, std::string_view bytes) {
  static int counter = 0;
  fs::path tmp = path.parent_path() / ("#tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::IOError("cannot write " + tmp.string() + ": " + std::strerror(errno));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return Status::IOError("cannot write " + path.string() + ": " + std::strerror(e));
  }
  return Status::Ok();
}

// Flushes everything written under `dir` to its disk (before the head moves).
Status SyncTree(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Status::IOError("cannot open " + dir.string() + ": " + std::strerror(errno));
  int r = ::syncfs(fd);
  int e = errno;
  ::close(fd);
  if (r != 0) return Status::IOError("cannot sync " + dir.string() + ": " + std::strerror(e));
  return Status::Ok();
}

// The commit OUT's head names, if it has one (refusing a format it does not know).
Result<std::optional<Address>> PublishedHead(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::optional<Address>();
  DL_ASSIGN_OR_RETURN(std::string text, ReadInput(file.string()));
  DL_ASSIGN_OR_RETURN(Address a, ParsePublishedHead(text, file.string()));
  return std::optional<Address>(a);
}

}  // namespace

int CmdPublish(const Args& a) {
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  const fs::path out = a.pos[1];
  std::error_code ec;
  fs::create_directories(out / "blobs", ec);
  if (!ec) fs::create_directories(out / "heads", ec);
  if (ec) return Fail(Status::IOError("cannot create " + out.string() + ": " + ec.message()));
  const fs::path head_file = out / "heads" / "main";
  auto before = PublishedHead(head_file);
  if (!before.ok()) return Fail(before.status());

  const Address head = (*conn)->head_commit();
  // Nothing when OUT already has the head; else from the published commit when the
  // source still holds it (only what changed), or every blob the head reaches.
  Result<std::vector<Address>> blobs = std::vector<Address>();
  bool diff = before->has_value() && **before != head;
  if (diff) blobs = (*conn)->BlobsToReach(head, **before);
  if (!blobs.ok() && blobs.status().code() != Code::kNotFound) return Fail(blobs.status());
  if (!before->has_value() || !blobs.ok()) {
    diff = false;
    blobs = (*conn)->BlobsToReach(head, Address());
    if (!blobs.ok()) return Fail(blobs.status());
  }

  uint64_t written = 0, bytes = 0, present = 0;
  for (const Address& addr : *blobs) {
    fs::path file = out / "blobs" / addr.Hex();
    if (fs::exists(file, ec)) {
      ++present;
      continue;
    }
    auto blob = (*conn)->store().Get(addr);
    if (!blob.ok()) return Fail(blob.status());
    if (Status s = WriteAtomically(file, *blob); !s.ok()) return Fail(s);
    ++written;
    bytes += blob->size();
  }
  if (Status s = SyncTree(out); !s.ok()) return Fail(s);
  if (Status s = WriteAtomically(head_file, PublishedHeadJson(head, (*conn)->db().basis_tx())); !s.ok()) return Fail(s);
  if (Status s = SyncTree(out); !s.ok()) return Fail(s);
  Print(a, Map({{"commit", edn::Node::String(head.Hex())},
                {"tx", edn::Node::Long(static_cast<int64_t>((*conn)->db().basis_tx()))},
                {"from", before->has_value() ? edn::Node::String((*before)->Hex()) : edn::Node::Nil()},
                {"diff", edn::Node::Bool(diff)},
                {"written", edn::Node::Long(static_cast<int64_t>(written))},
                {"bytes", edn::Node::Long(static_cast<int64_t>(bytes))},
                {"present", edn::Node::Long(static_cast<int64_t>(present))}}));
  return kOk;
}

}  // namespace datalith::cli
