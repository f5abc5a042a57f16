// Directory-backed Store (native builds only; POSIX).
//
// Layout (docs/format.md):
//   <dir>/FORMAT                   "datalith-store 1\n"
//   <dir>/blobs/<2 hex>/<30 hex>   one immutable file per blob
//   <dir>/heads/<name>             the head's value, replaced atomically
//   <dir>/LOCK                     flock()ed by CasHead/DeleteHead to serialise writers
//
// Every file appears via write-to-temp + rename(), so a reader that opens a path sees
// either nothing or the complete file and needs no lock. Temp files are named
// "#tmp-..." which is neither a valid blob name nor a valid head name, so List and
// ListHeads skip any that a crashed writer left behind.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <system_error>

#include "datalith/store.h"

namespace datalith {

namespace {

constexpr char kFormatFile[] = "FORMAT";
constexpr char kFormatContents[] = "datalith-store 1\n";
constexpr char kFormatMagic[] = "datalith-store ";
constexpr char kBlobsDir[] = "blobs";
constexpr char kHeadsDir[] = "heads";
constexpr size_t kSyncfsThreshold = 16;
constexpr char kLockFile[] = "LOCK";
constexpr char kTempPrefix[] = "#tmp-";
constexpr size_t kShardHexChars = 2;
constexpr size_t kMaxHeadName = 128;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

Status IoError(const std::string& op, const std::string& path, int err) {
  return Status::IOError(op + " " + path + ": " + ErrnoText(err));
}

// Same rule as the memory store: heads become file names, so keep them boring.
bool ValidHeadName(const std::string& name) {
  if (name.empty() || name.size() > kMaxHeadName) return false;
  if (name == "." || name == "..") return false;  // would name a directory, not a file
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status CheckHeadName(const std::string& name) {
  if (ValidHeadName(name)) return Status::Ok();
  return Status::Invalid("invalid head name `" + name +
                         "`: expected 1.." + std::to_string(kMaxHeadName) +
                         " characters from [A-Za-z0-9._-]");
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

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

// The whole file, or nullopt if it does not exist.
Result<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  Fd fd(OpenRetry(path.c_str(), O_RDONLY));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return IoError("open", path, errno);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return IoError("stat", path, errno);
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  // Files are immutable once renamed into place, so st_size is the final size; the
  // loop still tolerates short reads.
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("read", path, errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
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

// With `missing_ok`, a path that no longer exists counts as synced.
Status FsyncPath(const std::string& path, bool directory, bool missing_ok = false) {
  Fd fd(OpenRetry(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY));
  if (fd.get() < 0 && missing_ok && errno == ENOENT) return Status::Ok();
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

// Writes `bytes` to a fresh temp file in `dir` and renames it to `final_path`, so
// the final path never holds a partial file. With `fsync_file`, the data is made
// durable before the rename (the caller still owes an fsync of `dir`).
Status WriteFileAtomically(const std::string& dir, const std::string& final_path,
                           std::string_view bytes, bool fsync_file) {
  // pid + process-wide counter is unique among live writers; O_EXCL guards against a
  // leftover from a crashed process that had the same pid.
  static std::atomic<uint64_t> counter{0};
  std::string tmp;
  int raw_fd = -1;
  for (int attempt = 0; raw_fd < 0; ++attempt) {
    tmp = dir + "/" + kTempPrefix + std::to_string(::getpid()) + "-" +
          std::to_string(counter.fetch_add(1));
    raw_fd = OpenRetry(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (raw_fd < 0 && (errno != EEXIST || attempt > 100)) return IoError("create", tmp, errno);
  }
  Status st;
  {
    Fd fd(raw_fd);
    st = WriteAll(fd.get(), bytes, tmp);
    if (st.ok() && fsync_file && ::fsync(fd.get()) != 0) st = IoError("fsync", tmp, errno);
    // Closing cannot lose data the fsync above already reported on.
  }
  if (st.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    st = IoError("rename to " + final_path, tmp, errno);
  }
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

class FileStore final : public Store {
 public:
  explicit FileStore(std::string dir)
      : dir_(std::move(dir)),
        blobs_dir_(dir_ + "/" + kBlobsDir),
        heads_dir_(dir_ + "/" + kHeadsDir),
        lock_path_(dir_ + "/" + kLockFile) {}

  Result<std::string> Get(const Address& addr) override {
    DL_ASSIGN_OR_RETURN(auto bytes, ReadFileIfExists(BlobPath(addr)));
    if (!bytes) return Status::NotFound("blob " + addr.Hex());
    return std::move(*bytes);
  }

  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override {
    std::vector<std::string> files;
    std::set<std::string> dirs;
    for (const auto& [addr, bytes] : blobs) {
      std::string shard = ShardDir(addr);
      std::string path = BlobPath(addr);
      // Content addressing: an existing file of the right size holds these bytes.
      // (A wrong size can only be a torn write surviving a crash; rewrite it.)
      struct stat st;
      bool present = ::stat(path.c_str(), &st) == 0 &&
                     static_cast<size_t>(st.st_size) == bytes.size();
      if (!present) {
        DL_ASSIGN_OR_RETURN(bool created, MakeDir(shard));
        if (created) dirs.insert(blobs_dir_);
        DL_RETURN_IF_ERROR(WriteFileAtomically(shard, path, bytes, /*fsync_file=*/false));
        dirs.insert(shard);
      }
      // Even a blob found present joins the next Sync: another process may have
      // renamed it into place and died before syncing it.
      files.push_back(std::move(path));
    }
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending_files_.insert(files.begin(), files.end());
    pending_dirs_.insert(dirs.begin(), dirs.end());
    return Status::Ok();
  }

  Status Sync() override {
    // Held for the whole flush: a concurrent Sync must not return OK while blobs it is
    // responsible for are still being flushed by another thread.
    std::lock_guard<std::mutex> sync_lock(sync_mu_);
    std::set<std::string> files, dirs;
    {
      std::lock_guard<std::mutex> lock(pending_mu_);
      files.swap(pending_files_);
      dirs.swap(pending_dirs_);
    }
    // Files are reopened rather than kept open: a large commit may write more blobs
    // than we want fds, and fsync through any fd flushes the inode.
    Status st;
#ifdef __linux__
    // A flush writes thousands of small blobs; one syncfs() of the store's filesystem
    // costs about as much as a single fsync, where one fsync per file costs seconds.
    if (files.size() + dirs.size() > kSyncfsThreshold) {
      Fd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (fd.get() < 0) st = IoError("open for syncfs", dir_, errno);
      else if (::syncfs(fd.get()) != 0) st = IoError("syncfs", dir_, errno);
      if (st.ok()) return st;
      st = Status::Ok();  // fall back to syncing file by file
    }
#endif
    for (const auto& f : files) {
      // A blob deleted since it was put has nothing left to make durable.
      st = FsyncPath(f, /*directory=*/false, /*missing_ok=*/true);
      if (!st.ok()) break;
    }
    // Files first, then the directory entries that name them (shards before blobs/).
    for (auto it = dirs.rbegin(); st.ok() && it != dirs.rend(); ++it) {
      st = FsyncPath(*it, /*directory=*/true);
    }
    if (!st.ok()) {
      // Keep everything pending so a retry covers it.
      std::lock_guard<std::mutex> lock(pending_mu_);
      pending_files_.insert(files.begin(), files.end());
      pending_dirs_.insert(dirs.begin(), dirs.end());
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
    DL_RETURN_IF_ERROR(WriteFileAtomically(heads_dir_, HeadPath(name), value, /*fsync_file=*/true));
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
    std::vector<std::string> shards;
    DL_RETURN_IF_ERROR(ListDir(blobs_dir_, [&](const std::string& entry) {
      if (entry.size() == kShardHexChars && IsHex(entry)) shards.push_back(entry);
    }));
    std::vector<Address> out;
    for (const auto& shard : shards) {
      Status st = ListDir(blobs_dir_ + "/" + shard, [&](const std::string& entry) {
        if (entry.size() != 32 - kShardHexChars || !IsHex(entry)) return;  // temp files
        auto addr = Address::FromHex(shard + entry);
        if (addr.ok()) out.push_back(*addr);
      });
      // A shard may vanish under us only if someone removes directories; tolerate it.
      if (!st.ok() && st.code() != Code::kNotFound) return st;
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Status Delete(const Address& addr) override {
    // Not fsynced: a deletion lost in a crash only leaves garbage for the next GC.
    std::string path = BlobPath(addr);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("unlink", path, errno);
    return Status::Ok();
  }

 private:
  std::string ShardDir(const Address& addr) const {
    return blobs_dir_ + "/" + addr.Hex().substr(0, kShardHexChars);
  }
  std::string BlobPath(const Address& addr) const {
    std::string hex = addr.Hex();
    return blobs_dir_ + "/" + hex.substr(0, kShardHexChars) + "/" + hex.substr(kShardHexChars);
  }
  std::string HeadPath(const std::string& name) const { return heads_dir_ + "/" + name; }

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
  const std::string blobs_dir_;
  const std::string heads_dir_;
  const std::string lock_path_;

  std::mutex pending_mu_;                 // guards pending_files_, pending_dirs_
  std::set<std::string> pending_files_;   // blobs put since the last successful Sync
  std::set<std::string> pending_dirs_;    // directories whose entries those added
  std::mutex sync_mu_;                    // serialises Sync (see there)
  std::mutex head_mu_;                    // in-process half of the writer lock
};

// Checks <dir>/FORMAT: true if it names version 1, false if there is no FORMAT file,
// an error if it names anything else.
Result<bool> HasValidFormat(const std::string& dir) {
  std::string path = dir + "/" + kFormatFile;
  DL_ASSIGN_OR_RETURN(auto contents, ReadFileIfExists(path));
  if (!contents) return false;
  if (*contents == kFormatContents) return true;
  if (contents->rfind(kFormatMagic, 0) == 0) {
    std::string version = contents->substr(sizeof(kFormatMagic) - 1);
    while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
    return Status::Unsupported(dir + ": store format version `" + version +
                               "` is not supported (this build reads version 1)");
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
                                           /*fsync_file=*/true));
  }
  // Idempotent; also repairs a creation that died between FORMAT and these.
  bool new_entries = !formatted;
  for (const char* sub : {kBlobsDir, kHeadsDir}) {
    DL_ASSIGN_OR_RETURN(bool created, MakeDir(dir + "/" + sub));
    new_entries = new_entries || created;
  }
  if (new_entries) DL_RETURN_IF_ERROR(FsyncPath(dir, /*directory=*/true));
  return std::shared_ptr<Store>(std::make_shared<FileStore>(dir));
}

}  // namespace datalith
