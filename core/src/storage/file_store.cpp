// Directory-backed Store (native builds only; POSIX). One concern in one file (~800
// lines): the pack format, its index, crash-safe writes, the head lock and GC all
// share the same private state (open pack fds, the address index) and invariants.
//
// Layout (docs/format.md §5):
//   <dir>/FORMAT                  "datalith-store 2\n"
//   <dir>/packs/<32 hex>.pack     immutable pack files: blobs back to back, then a footer
//                                 index (address → offset, length) with a checksum
//   <dir>/heads/<name>            the head's value, replaced atomically
//   <dir>/LOCK                    flock()ed by CasHead/DeleteHead to serialise writers
//
// Each Put writes one pack; every file appears via write-to-temp + rename(), so a
// reader that opens a path sees either nothing or the complete file and needs no lock.
// Temp files are named "#tmp-..." which is neither a valid pack name nor a valid head
// name, so scans skip any that a crashed writer left behind. A pack whose footer does
// not check out (torn by a power loss before it was synced) is ignored.
//
// The store keeps an in-memory index address → (pack, offset, length), loaded lazily
// from the footers. A Get that misses rescans packs/ for packs another process wrote
// since; a pack that vanished (rewritten by another process's GC) triggers a rebuild.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "datalith/store.h"
#include "storage/head_name.h"

namespace datalith {

namespace {

constexpr char kFormatFile[] = "FORMAT";
constexpr char kFormatContents[] = "datalith-store 2\n";
constexpr char kFormatMagic[] = "datalith-store ";
constexpr char kPacksDir[] = "packs";
constexpr char kHeadsDir[] = "heads";
constexpr char kPackSuffix[] = ".pack";
constexpr char kLockFile[] = "LOCK";
constexpr char kTempPrefix[] = "#tmp-";

// Pack footer (docs/format.md §5): n index entries, then the trailer.
constexpr char kPackMagic[] = "DLTHPACK";  // 8 bytes, the file's last
constexpr uint32_t kPackVersion = 1;
constexpr size_t kEntryBytes = 16 + 8 + 4;  // address, offset, length
constexpr size_t kTrailerBytes = 8 + 4 + 4 + 8 + 8;  // data size, n, version, checksum, magic

constexpr size_t kSyncfsThreshold = 16;  // more pending packs than this: one syncfs()
constexpr size_t kMaxOpenPacks = 256;    // cached read fds
constexpr uint64_t kSmallPack = 64 * 1024;  // GC merges small packs with any dead blob

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

Status IoError(const std::string& op, const std::string& path, int err) {
  return Status::IOError(op + " " + path + ": " + ErrnoText(err));
}

bool IsPackName(const std::string& name) {
  constexpr size_t kSuffix = sizeof(kPackSuffix) - 1;
  if (name.size() != 32 + kSuffix || name.compare(32, kSuffix, kPackSuffix) != 0) return false;
  return std::all_of(name.begin(), name.begin() + 32,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetBE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// An open file, closed when the last user lets go (so a reader can pread outside the
// store's lock while another thread evicts or unlinks the pack).
struct File {
  File(int fd, std::string path) : fd(fd), path(std::move(path)) {}
  ~File() { ::close(fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  const int fd;
  const std::string path;
  bool synced = false;  // fdatasync()ed by this process; guarded by FileStore::mu_
};

// Closes an fd on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

int OpenRetry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Reads exactly out->size() bytes at `offset`; Corruption if the file is shorter.
Status PreadAll(int fd, uint64_t offset, std::string* out, const std::string& path) {
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = ::pread(fd, out->data() + done, out->size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("read", path, errno);
    }
    if (n == 0) {
      return Status::Corruption(path + ": " + std::to_string(out->size()) + " bytes at offset " +
                                std::to_string(offset) + " extend past the end of the file");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// The whole file, or nullopt if it does not exist.
Result<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  Fd fd(OpenRetry(path.c_str(), O_RDONLY));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return IoError("open", path, errno);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return IoError("stat", path, errno);
  // Files are immutable once renamed into place, so st_size is the final size.
  std::string out(static_cast<size_t>(st.st_size), '\0');
  DL_RETURN_IF_ERROR(PreadAll(fd.get(), 0, &out, path));
  return std::optional<std::string>(std::move(out));
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& path, bool directory) {
  Fd fd(OpenRetry(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY));
  if (fd.get() < 0) return IoError("open for fsync", path, errno);
  if (::fsync(fd.get()) != 0) return IoError("fsync", path, errno);
  return Status::Ok();
}

// Creates `path` as a directory; true if it was created now (so its parent's entry
// needs an fsync), false if it already existed.
Result<bool> MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return true;
  if (errno == EEXIST) return false;
  return IoError("mkdir", path, errno);
}

Status MakeDirs(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    DL_RETURN_IF_ERROR(MakeDir(path.substr(0, pos)).status());
  }
  return MakeDir(path).status();
}

// Writes `bytes` to a fresh temp file in `dir` and renames it to `final_path`, so the
// final path never holds a partial file. With `sync_file` the data is made durable
// before the rename (the caller still owes an fsync of `dir`). Returns the file, open
// for reading.
Result<std::shared_ptr<File>> WriteFileAtomically(const std::string& dir,
                                                  const std::string& final_path,
                                                  std::string_view bytes, bool sync_file) {
  // pid + process-wide counter is unique among live writers; O_EXCL guards against a
  // leftover from a crashed process that had the same pid.
  static std::atomic<uint64_t> counter{0};
  std::string tmp;
  int raw_fd = -1;
  for (int attempt = 0; raw_fd < 0; ++attempt) {
    tmp = dir + "/" + kTempPrefix + std::to_string(::getpid()) + "-" +
          std::to_string(counter.fetch_add(1));
    raw_fd = OpenRetry(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    if (raw_fd < 0 && (errno != EEXIST || attempt > 100)) return IoError("create", tmp, errno);
  }
  Fd fd(raw_fd);
  Status st = WriteAll(fd.get(), bytes, tmp);
  if (st.ok() && sync_file && ::fdatasync(fd.get()) != 0) st = IoError("fdatasync", tmp, errno);
  if (st.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    st = IoError("rename to " + final_path, tmp, errno);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  auto file = std::make_shared<File>(fd.release(), final_path);
  file->synced = sync_file;
  return file;
}

// A fresh pack name: 128 random bits, so no two writers (or a rewrite and the pack it
// replaces) ever pick the same file.
std::string NewPackName() {
  static std::mutex mu;
  static std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), static_cast<unsigned>(::getpid())};
    return std::mt19937_64(seq);
  }();
  std::lock_guard<std::mutex> lock(mu);
  Address a;
  for (int half = 0; half < 2; ++half) {
    uint64_t v = rng();
    for (int i = 0; i < 8; ++i) a.bytes[8 * half + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  return a.Hex() + kPackSuffix;
}

struct PackEntry {
  Address addr;
  uint64_t offset;
  uint32_t length;
};

// Blobs back to back, then the footer (docs/format.md §5).
std::string EncodePack(const std::vector<const std::pair<Address, std::string>*>& blobs) {
  std::string out;
  size_t data = 0;
  for (const auto* b : blobs) data += b->second.size();
  out.reserve(data + blobs.size() * kEntryBytes + kTrailerBytes);
  for (const auto* b : blobs) out += b->second;
  uint64_t offset = 0;
  for (const auto* b : blobs) {
    out.append(reinterpret_cast<const char*>(b->first.bytes.data()), b->first.bytes.size());
    PutU64(&out, offset);
    PutU32(&out, static_cast<uint32_t>(b->second.size()));
    offset += b->second.size();
  }
  PutU64(&out, data);
  PutU32(&out, static_cast<uint32_t>(blobs.size()));
  PutU32(&out, kPackVersion);
  PutU64(&out, XXH3_64bits(out.data() + data, out.size() - data));
  out.append(kPackMagic, 8);
  return out;
}

// The index of the pack open as `fd`, `size` bytes long; Corruption if the footer is
// torn or damaged.
Result<std::vector<PackEntry>> ReadPackIndex(int fd, uint64_t size, const std::string& path) {
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  if (size < kTrailerBytes) return bad("too short for a pack footer (" + std::to_string(size) + " bytes)");
  std::string trailer(kTrailerBytes, '\0');
  DL_RETURN_IF_ERROR(PreadAll(fd, size - kTrailerBytes, &trailer, path));
  if (trailer.compare(kTrailerBytes - 8, 8, kPackMagic, 8) != 0) return bad("no pack magic at the end");
  uint64_t data = GetBE(trailer.data(), 8);
  uint64_t n = GetBE(trailer.data() + 8, 4);
  uint64_t version = GetBE(trailer.data() + 12, 4);
  if (version != kPackVersion) return bad("unsupported pack version " + std::to_string(version));
  if (data > size || (size - data) != n * kEntryBytes + kTrailerBytes) {
    return bad("footer sizes do not add up to the file size");
  }
  std::string index(n * kEntryBytes + 16, '\0');  // entries + data size, n, version
  DL_RETURN_IF_ERROR(PreadAll(fd, data, &index, path));
  if (XXH3_64bits(index.data(), index.size()) != GetBE(trailer.data() + 16, 8)) {
    return bad("footer checksum mismatch");
  }
  std::vector<PackEntry> out(n);
  for (size_t i = 0; i < n; ++i) {
    const char* p = index.data() + i * kEntryBytes;
    std::copy(p, p + 16, out[i].addr.bytes.begin());
    out[i].offset = GetBE(p + 16, 8);
    out[i].length = static_cast<uint32_t>(GetBE(p + 24, 4));
    if (out[i].offset > data || out[i].length > data - out[i].offset) {
      return bad("entry " + std::to_string(i) + " points past the blob data");
    }
  }
  return out;
}

class FileStore final : public Store {
 public:
  explicit FileStore(std::string dir)
      : dir_(std::move(dir)),
        packs_dir_(dir_ + "/" + kPacksDir),
        heads_dir_(dir_ + "/" + kHeadsDir),
        lock_path_(dir_ + "/" + kLockFile) {}

  Result<std::string> Get(const Address& addr) override {
    Loc loc;
    std::shared_ptr<File> file;
    {
      std::lock_guard<std::mutex> lock(mu_);
      DL_RETURN_IF_ERROR(Locate(addr, &loc, &file));
    }
    std::string out(loc.length, '\0');
    DL_RETURN_IF_ERROR(PreadAll(file->fd, loc.offset, &out, file->path));
    return out;
  }

  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override {
    std::vector<const std::pair<Address, std::string>*> fresh;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!loaded_) DL_RETURN_IF_ERROR(Refresh());
      std::unordered_set<Address, AddressHash> seen;
      for (const auto& blob : blobs) {
        if (blob.second.size() > UINT32_MAX) {
          return Status::Invalid("blob " + blob.first.Hex() + " is larger than 4 GiB");
        }
        auto it = index_.find(blob.first);
        if (it == index_.end()) {
          if (seen.insert(blob.first).second) fresh.push_back(&blob);
          continue;
        }
        // Content addressing: the stored copy holds these bytes. It still joins the
        // next Sync: another process may have written it and died before syncing.
        auto file = OpenPack(it->second.pack);
        if (file.ok()) {
          if (!(*file)->synced) pending_.push_back(std::move(*file));
        } else if (file.status().code() == Code::kNotFound) {  // another GC removed it
          if (seen.insert(blob.first).second) fresh.push_back(&blob);
        } else {
          return file.status();
        }
      }
    }
    if (fresh.empty()) return Status::Ok();
    std::string name = NewPackName();
    DL_ASSIGN_OR_RETURN(auto file, WriteFileAtomically(packs_dir_, PackPath(name),
                                                       EncodePack(fresh), /*sync_file=*/false));
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<PackEntry> entries;
    uint64_t offset = 0;
    for (const auto* b : fresh) {
      entries.push_back({b->first, offset, static_cast<uint32_t>(b->second.size())});
      offset += b->second.size();
    }
    AddPack(name, offset, entries, file);
    pending_.push_back(std::move(file));
    return Status::Ok();
  }

  Status Sync() override {
    // Held for the whole flush: a concurrent Sync must not return OK while packs it is
    // responsible for are still being flushed by another thread.
    std::lock_guard<std::mutex> sync_lock(sync_mu_);
    std::vector<std::shared_ptr<File>> files;
    {
      std::lock_guard<std::mutex> lock(mu_);
      files.swap(pending_);
    }
    if (files.empty()) return Status::Ok();
    Status st = SyncFiles(files);
    std::lock_guard<std::mutex> lock(mu_);
    if (st.ok()) {
      for (auto& f : files) f->synced = true;
    } else {
      pending_.insert(pending_.end(), files.begin(), files.end());  // a retry covers them
    }
    return st;
  }

  Result<std::optional<std::string>> GetHead(const std::string& name) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    // No lock: heads are replaced by rename(), so this reads the old or the new value.
    return ReadFileIfExists(HeadPath(name));
  }

  Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                 const std::string& value) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    std::lock_guard<std::mutex> lock(head_mu_);
    DL_ASSIGN_OR_RETURN(auto lock_fd, LockWriters());
    Fd held(lock_fd);  // closing the fd releases the flock
    DL_ASSIGN_OR_RETURN(auto current, ReadFileIfExists(HeadPath(name)));
    if (current != expected) {
      return Status::Conflict("head `" + name + "` changed concurrently");
    }
    // The head must never point at blobs that a crash could still lose.
    DL_RETURN_IF_ERROR(Sync());
    DL_RETURN_IF_ERROR(
        WriteFileAtomically(heads_dir_, HeadPath(name), value, /*sync_file=*/true).status());
    return FsyncPath(heads_dir_, /*directory=*/true);
  }

  Result<std::vector<std::string>> ListHeads() override {
    std::vector<std::string> out;
    DL_RETURN_IF_ERROR(ListDir(heads_dir_, [&](const std::string& entry) {
      if (ValidHeadName(entry)) out.push_back(entry);
    }));
    std::sort(out.begin(), out.end());
    return out;
  }

  Status DeleteHead(const std::string& name) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    // Under the writer lock so a delete is ordered against every CasHead.
    std::lock_guard<std::mutex> lock(head_mu_);
    DL_ASSIGN_OR_RETURN(auto lock_fd, LockWriters());
    Fd held(lock_fd);
    std::string path = HeadPath(name);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return IoError("unlink", path, errno);
    }
    return FsyncPath(heads_dir_, /*directory=*/true);
  }

  Result<std::vector<Address>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    DL_RETURN_IF_ERROR(Refresh());  // GC must see what other processes wrote
    std::vector<Address> out;
    out.reserve(index_.size());
    for (const auto& [addr, _] : index_) out.push_back(addr);
    std::sort(out.begin(), out.end());
    return out;
  }

  Status Delete(const Address& addr) override { return DeleteMany({addr}); }

  // Forgets the blobs, then reclaims space: a pack left with no live blob is unlinked;
  // the live blobs of packs that are mostly dead (or small) are copied into one new
  // pack, made durable, and only then are the old packs unlinked. A deletion that does
  // not free a whole pack lives only in this process's index: after a reopen (or an
  // index rebuild) the blob is back until the next GC deletes it again.
  Status DeleteMany(const std::vector<Address>& addrs) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_) DL_RETURN_IF_ERROR(Refresh());
    std::set<uint32_t> touched;
    for (const Address& a : addrs) {
      auto it = index_.find(a);
      if (it == index_.end()) continue;
      Pack& p = packs_[it->second.pack];
      p.dead_bytes += it->second.length;
      --p.live;
      touched.insert(it->second.pack);
      index_.erase(it);
    }
    std::vector<uint32_t> rewrite, drop;
    for (uint32_t id : touched) {
      const Pack& p = packs_[id];
      if (p.live == 0) drop.push_back(id);
      else if (2 * p.dead_bytes >= p.data_bytes || p.data_bytes < kSmallPack) rewrite.push_back(id);
    }
    if (!rewrite.empty()) DL_RETURN_IF_ERROR(Rewrite(rewrite));
    drop.insert(drop.end(), rewrite.begin(), rewrite.end());
    for (uint32_t id : drop) {
      // Not fsynced: an unlink lost in a crash only leaves garbage for the next GC.
      Pack& p = packs_[id];
      std::string path = PackPath(p.name);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("unlink", path, errno);
      CloseFile(p);
      pack_ids_.erase(p.name);
      p = Pack{};
      p.gone = true;
    }
    return Status::Ok();
  }

 private:
  struct Loc {
    uint32_t pack = 0;  // index into packs_
    uint32_t length = 0;
    uint64_t offset = 0;
  };
  struct Pack {
    std::string name;             // file name in packs/
    uint64_t data_bytes = 0;      // size of the blob region
    uint64_t dead_bytes = 0;      // deleted (or duplicate) blob bytes in it
    uint32_t live = 0;            // entries the index serves from this pack
    std::vector<Address> addrs;   // the blobs this pack served when it was indexed
    std::shared_ptr<File> file;   // cached read fd, or null
    bool gone = false;            // unlinked by this process
  };

  std::string PackPath(const std::string& name) const { return packs_dir_ + "/" + name; }
  std::string HeadPath(const std::string& name) const { return heads_dir_ + "/" + name; }

  // Finds `addr`, rescanning packs/ when it is not indexed or its pack is gone.
  // Requires mu_.
  Status Locate(const Address& addr, Loc* loc, std::shared_ptr<File>* file) {
    if (!loaded_) DL_RETURN_IF_ERROR(Refresh());
    for (int attempt = 0;; ++attempt) {
      auto it = index_.find(addr);
      if (it != index_.end()) {
        auto f = OpenPack(it->second.pack);
        if (f.ok()) {
          *loc = it->second;
          *file = std::move(*f);
          return Status::Ok();
        }
        // Another process's GC unlinked the pack: rebuild and look again.
        if (f.status().code() != Code::kNotFound || attempt >= 2) return f.status();
      } else if (attempt >= 1) {
        std::string msg = "blob " + addr.Hex();
        if (!bad_.empty()) {
          msg += " (" + std::to_string(bad_.size()) + " damaged pack(s) ignored, e.g. " +
                 bad_.begin()->second + ")";
        }
        return Status::NotFound(msg);
      }
      DL_RETURN_IF_ERROR(Refresh());
    }
  }

  // Indexes packs that appeared in packs/ since the last scan; if one we know has
  // vanished, rebuilds the index from scratch. Requires mu_.
  Status Refresh() {
    std::vector<std::string> names;
    DL_RETURN_IF_ERROR(ListDir(packs_dir_, [&](const std::string& entry) {
      if (IsPackName(entry)) names.push_back(entry);
    }));
    std::unordered_set<std::string> present(names.begin(), names.end());
    bool vanished = std::any_of(pack_ids_.begin(), pack_ids_.end(),
                                [&](const auto& kv) { return !present.count(kv.first); });
    std::erase_if(bad_, [&](const auto& kv) { return !present.count(kv.first); });
    if (vanished) {
      index_.clear();
      packs_.clear();
      pack_ids_.clear();
      open_files_ = 0;
    }
    for (const auto& name : names) {
      if (pack_ids_.count(name) || bad_.count(name)) continue;
      DL_RETURN_IF_ERROR(LoadPack(name));
    }
    loaded_ = true;
    return Status::Ok();
  }

  // Reads one pack's footer into the index. A damaged footer is remembered and the
  // pack ignored (pack files never change, so it is not read again). Requires mu_.
  Status LoadPack(const std::string& name) {
    std::string path = PackPath(name);
    Fd fd(OpenRetry(path.c_str(), O_RDONLY));
    if (fd.get() < 0) {
      if (errno == ENOENT) return Status::Ok();  // removed since the directory scan
      return IoError("open", path, errno);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return IoError("stat", path, errno);
    auto entries = ReadPackIndex(fd.get(), static_cast<uint64_t>(st.st_size), path);
    if (!entries.ok()) {
      if (entries.status().code() != Code::kCorruption) return entries.status();
      bad_[name] = entries.status().message();
      return Status::Ok();
    }
    uint64_t data = static_cast<uint64_t>(st.st_size) - entries->size() * kEntryBytes - kTrailerBytes;
    AddPack(name, data, *entries, nullptr);
    return Status::Ok();
  }

  // Requires mu_. A blob the index already serves from another pack counts as dead here.
  void AddPack(const std::string& name, uint64_t data_bytes, const std::vector<PackEntry>& entries,
               std::shared_ptr<File> file) {
    auto id = static_cast<uint32_t>(packs_.size());
    Pack p;
    p.name = name;
    p.data_bytes = data_bytes;
    for (const auto& e : entries) {
      if (index_.try_emplace(e.addr, Loc{id, e.length, e.offset}).second) {
        p.addrs.push_back(e.addr);
        ++p.live;
      } else {
        p.dead_bytes += e.length;
      }
    }
    if (file) {
      if (open_files_ >= kMaxOpenPacks) EvictOne();
      p.file = std::move(file);
      ++open_files_;
    }
    packs_.push_back(std::move(p));
    pack_ids_[name] = id;
  }

  // The pack's read fd, opened on demand; NotFound if the file is gone. Requires mu_.
  Result<std::shared_ptr<File>> OpenPack(uint32_t id) {
    Pack& p = packs_[id];
    if (p.file) return p.file;
    std::string path = PackPath(p.name);
    int fd = OpenRetry(path.c_str(), O_RDONLY);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound("pack " + path + " was removed");
      return IoError("open", path, errno);
    }
    if (open_files_ >= kMaxOpenPacks) EvictOne();
    p.file = std::make_shared<File>(fd, path);
    ++open_files_;
    return p.file;
  }

  // Closes one cached fd, round robin (readers holding it keep it open until done).
  void EvictOne() {
    for (size_t n = 0; n < packs_.size(); ++n) {
      clock_ = (clock_ + 1) % packs_.size();
      if (packs_[clock_].file) {
        CloseFile(packs_[clock_]);
        return;
      }
    }
  }

  void CloseFile(Pack& p) {
    if (p.file) --open_files_;
    p.file.reset();
  }

  // Copies the blobs the packs `ids` still serve into one new pack and makes it
  // durable; the caller unlinks the old packs. Requires mu_.
  Status Rewrite(const std::vector<uint32_t>& ids) {
    std::vector<std::pair<Address, std::string>> live;
    for (uint32_t id : ids) {
      DL_ASSIGN_OR_RETURN(auto file, OpenPack(id));
      for (const Address& a : packs_[id].addrs) {
        auto it = index_.find(a);
        if (it == index_.end() || it->second.pack != id) continue;  // deleted or re-put
        std::string bytes(it->second.length, '\0');
        DL_RETURN_IF_ERROR(PreadAll(file->fd, it->second.offset, &bytes, file->path));
        live.emplace_back(a, std::move(bytes));
      }
    }
    if (live.empty()) return Status::Ok();
    std::vector<const std::pair<Address, std::string>*> ptrs;
    uint64_t data = 0;
    std::vector<PackEntry> entries;
    for (const auto& b : live) {
      ptrs.push_back(&b);
      entries.push_back({b.first, data, static_cast<uint32_t>(b.second.size())});
      data += b.second.size();
    }
    std::string name = NewPackName();
    DL_ASSIGN_OR_RETURN(auto file, WriteFileAtomically(packs_dir_, PackPath(name),
                                                       EncodePack(ptrs), /*sync_file=*/true));
    DL_RETURN_IF_ERROR(FsyncPath(packs_dir_, /*directory=*/true));
    for (const auto& b : live) index_.erase(b.first);
    AddPack(name, data, entries, std::move(file));
    return Status::Ok();
  }

  Status SyncFiles(const std::vector<std::shared_ptr<File>>& files) {
#ifdef __linux__
    // Many packs (say, a follower that wrote little but often): one syncfs() of the
    // store's filesystem costs about as much as one fsync.
    if (files.size() > kSyncfsThreshold) {
      Fd fd(OpenRetry(packs_dir_.c_str(), O_RDONLY | O_DIRECTORY));
      if (fd.get() >= 0 && ::syncfs(fd.get()) == 0) return Status::Ok();
      // else fall back to syncing file by file
    }
#endif
    for (const auto& f : files) {
      // An unlinked pack (its blobs were deleted) syncs harmlessly.
      if (!f->synced && ::fdatasync(f->fd) != 0) return IoError("fdatasync", f->path, errno);
    }
    return FsyncPath(packs_dir_, /*directory=*/true);  // the new directory entries
  }

  // Opens LOCK and takes an exclusive flock on it; the caller closes the returned fd.
  // LOCK is opened per call, not kept open: flock belongs to the open file description,
  // which a fork()ed child would share, silently sharing the lock too.
  Result<int> LockWriters() {
    int fd = OpenRetry(lock_path_.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return IoError("open", lock_path_, errno);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return IoError("flock", lock_path_, err);
    }
    return fd;
  }

  template <class F>
  Status ListDir(const std::string& path, F&& on_entry) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::NotFound("directory " + path);
      return IoError("opendir", path, errno);
    }
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") on_entry(name);
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return IoError("readdir", path, err);
    return Status::Ok();
  }

  const std::string dir_;
  const std::string packs_dir_;
  const std::string heads_dir_;
  const std::string lock_path_;

  std::mutex mu_;  // guards everything below but sync_mu_ and head_mu_
  bool loaded_ = false;                                   // packs/ scanned at least once
  std::unordered_map<Address, Loc, AddressHash> index_;   // every live blob
  std::vector<Pack> packs_;                               // by id; gone ones stay as slots
  std::unordered_map<std::string, uint32_t> pack_ids_;    // name → id, packs on disk
  std::map<std::string, std::string> bad_;                // damaged pack → why
  size_t open_files_ = 0;                                 // packs_ with a cached fd
  size_t clock_ = 0;                                      // EvictOne's hand
  std::vector<std::shared_ptr<File>> pending_;            // packs put since the last Sync

  std::mutex sync_mu_;  // serialises Sync (see there)
  std::mutex head_mu_;  // in-process half of the writer lock
};

// Checks <dir>/FORMAT: true if it names version 2, false if there is no FORMAT file,
// an error if it names anything else.
Result<bool> HasValidFormat(const std::string& dir) {
  std::string path = dir + "/" + kFormatFile;
  DL_ASSIGN_OR_RETURN(auto contents, ReadFileIfExists(path));
  if (!contents) return false;
  if (*contents == kFormatContents) return true;
  if (contents->rfind(kFormatMagic, 0) == 0) {
    std::string version = contents->substr(sizeof(kFormatMagic) - 1);
    while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
    std::string why = version == "1" ? "; version 1 kept one file per blob and is not migrated, "
                                       "so recreate the store"
                                     : "";
    return Status::Unsupported(path + ": store format version `" + version +
                               "` is not supported (this build reads version 2" + why + ")");
  }
  return Status::Invalid(dir + ": " + kFormatFile + " does not describe a datalith store");
}

bool DirIsEmpty(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

}  // namespace

Result<std::shared_ptr<Store>> OpenFileStore(const std::string& dir_in, bool create) {
  if (dir_in.empty()) return Status::Invalid("store directory is empty");
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();

  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return IoError("stat", dir, errno);
    if (!create) return Status::NotFound("store directory " + dir + " does not exist");
    DL_RETURN_IF_ERROR(MakeDirs(dir));
  } else if (!S_ISDIR(st.st_mode)) {
    return Status::Invalid(dir + " is not a directory");
  }

  DL_ASSIGN_OR_RETURN(bool formatted, HasValidFormat(dir));
  if (!formatted) {
    // Never adopt a directory that holds something else.
    if (!create || !DirIsEmpty(dir)) {
      return Status::Invalid(dir + " is not a datalith store (no " + kFormatFile + " file)");
    }
    // FORMAT goes first so the directory is claimed before anything else lands in it.
    DL_RETURN_IF_ERROR(WriteFileAtomically(dir, dir + "/" + kFormatFile, kFormatContents,
                                           /*sync_file=*/true)
                           .status());
  }
  // Idempotent; also repairs a creation that died between FORMAT and these.
  bool new_entries = !formatted;
  for (const char* sub : {kPacksDir, kHeadsDir}) {
    DL_ASSIGN_OR_RETURN(bool created, MakeDir(dir + "/" + sub));
    new_entries = new_entries || created;
  }
  if (new_entries) DL_RETURN_IF_ERROR(FsyncPath(dir, /*directory=*/true));
  return std::shared_ptr<Store>(std::make_shared<FileStore>(dir));
}

}  // namespace datalith
