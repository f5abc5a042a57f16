// Store: the key-value seam under every database.
//
// A store holds immutable blobs addressed by the hash of their contents (nodes and
// commit records) and a few small mutable named heads (one per branch). That is all
// a backend implements; encoding, caching, verification and GC sit above it.
//
// Contract:
// - Put is idempotent: putting the same address twice is harmless. A blob that Put
//   returned OK for is durable once Sync() returns OK (backends may be durable earlier).
// - CasHead is atomic and linearizable with respect to every other CasHead and
//   GetHead on the same store, across processes for the file backend. It implies a
//   Sync() of every blob put before it, so a head never points at missing blobs.
// - Readers need no coordination with the writer: GetHead then Get of what it points
//   at always works while those blobs are retained.
// Implementations are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "datalith/status.h"

namespace datalith {

// 128-bit content address (XXH3-128 of a node's canonical bytes; docs/format.md).
struct Address {
  std::array<uint8_t, 16> bytes{};

  bool operator==(const Address& o) const { return bytes == o.bytes; }
  bool operator!=(const Address& o) const { return bytes != o.bytes; }
  bool operator<(const Address& o) const { return bytes < o.bytes; }
  bool IsZero() const;
  std::string Hex() const;  // 32 lowercase hex digits
  static Result<Address> FromHex(std::string_view hex);
  // Address of `canonical` bytes.
  static Address Of(std::string_view canonical);
};

struct AddressHash {
  size_t operator()(const Address& a) const;
};

class Store {
 public:
  virtual ~Store() = default;

  // The blob at `addr`; kNotFound if absent, kMissingNode if the backend cannot
  // answer synchronously right now (see docs/design.md, lazy loading).
  virtual Result<std::string> Get(const Address& addr) = 0;
  // Whether Get may answer kMissingNode. Transactions on such a store are applied to
  // the trees at once (no live index, docs/design.md): a flush then never needs a node
  // the transaction did not load.
  virtual bool MayMissNodes() const { return false; }
  // Stores several blobs. Idempotent per address.
  virtual Status Put(const std::vector<std::pair<Address, std::string>>& blobs) = 0;
  // Makes every blob put so far durable.
  virtual Status Sync() = 0;

  // The head's value, or nullopt if the head does not exist.
  virtual Result<std::optional<std::string>> GetHead(const std::string& name) = 0;
  // Sets head `name` to `value` if its current value equals `expected` (nullopt: the
  // head must not exist). kConflict if it does not.
  virtual Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                         const std::string& value) = 0;
  virtual Result<std::vector<std::string>> ListHeads() = 0;
  virtual Status DeleteHead(const std::string& name) = 0;

  // For GC: every stored address, and deletion of one blob or of many (backends that
  // reclaim space in bulk override DeleteMany).
  virtual Result<std::vector<Address>> List() = 0;
  virtual Status Delete(const Address& addr) = 0;
  virtual Status DeleteMany(const std::vector<Address>& addrs) {
    for (const Address& a : addrs) DL_RETURN_IF_ERROR(Delete(a));
    return Status::Ok();
  }

  // A lock that serialises the writers of this store across processes, held until the
  // returned object is destroyed; null for a backend that needs none. A writer of a
  // store shared by several servers (Postgres) holds it from reading the head to moving
  // it, so no server keeps losing the compare-and-set to the others.
  virtual Result<std::shared_ptr<void>> LockCommits() { return std::shared_ptr<void>(); }
};

// OK if `blob` is the stored form (docs/format.md §2: a codec byte, then the canonical
// bytes or one zstd frame of them) of the node or commit record at `addr`: the
// canonical bytes hash to `addr`. Corruption naming the address otherwise. For readers
// that receive blobs from elsewhere (a replica, a static host) before storing them.
Status VerifyBlob(const Address& addr, std::string_view blob);

// The tree blobs the stored blob at `addr` (verified like VerifyBlob) refers to: a
// commit record's index roots (`is_commit`), or a tree node's children (none for a
// leaf); not the parent commit or log segments. A replica checks with it that an update
// of nodes reaches no node it neither received nor holds.
Result<std::vector<Address>> BlobRefs(const Address& addr, std::string_view blob, bool is_commit);

// In-process store; shares nothing with other processes.
std::shared_ptr<Store> MakeMemoryStore();

// Directory-backed store. Creates the directory if `create` is set. Layout in
// docs/format.md §5 (format version 2; version 1 directories are refused): each Put
// writes one immutable pack file, packs/<32 hex>.pack (the blobs, then a checksummed
// footer index), and heads/<name>; every file is written to a temp file and renamed,
// and packs are fsynced before a head moves. Reads pread from cached fds through an
// in-memory index built lazily from the pack footers; a miss rescans packs/ for packs
// other processes wrote. DeleteMany unlinks packs left with no live blob and rewrites
// mostly dead (or small) ones. Several processes may open the same directory; CasHead
// serialises writers with an advisory lock, readers take no lock.
Result<std::shared_ptr<Store>> OpenFileStore(const std::string& dir, bool create);

// A published database (docs/format.md §6) at an http:// or https:// prefix, read-only:
// Get fetches <url>blobs/<address> and verifies it (Corruption naming the object if it
// does not match its address), GetHead reads <url>heads/<name>; writes are Unsupported.
// Each Get is one request on a keep-alive connection. Unsupported in builds without
// Boost.Beast (https: without OpenSSL).
Result<std::shared_ptr<Store>> OpenHttpStore(const std::string& url);
// The head object of a published database, P/heads/main:
// {"format": "datalith-published", "version": 1, "commit": "<hex>", "tx": N}.
std::string PublishedHeadJson(const Address& commit, uint64_t tx);
// The commit a published head names: Corruption if `text` is not one, Unsupported for
// another version (`where` names the object in the messages).
Result<Address> ParsePublishedHead(std::string_view text, const std::string& where);

// The database `db` in a Postgres database (libpq `conninfo`: "host=/tmp dbname=x" or a
// postgres:// URI), shared by every process that opens it: blobs and heads in tables
// the store creates if missing (format 1; another is refused naming it). CasHead is one
// statement that also notifies the move (WatchPostgresHeads). Delete and DeleteMany
// (GC) leave the blobs written in the last `gc_grace_s` seconds: with several writers,
// another process's commit may be about to reach them (0: delete at once, for a store
// with one writer). Unsupported in builds without libpq.
Result<std::shared_ptr<Store>> OpenPostgresStore(const std::string& conninfo, const std::string& db,
                                                 int gc_grace_s = 600);

// Told of head moves other processes make; stops when destroyed.
class HeadWatch {
 public:
  virtual ~HeadWatch() = default;
};
// Calls `on_move("<db> <head>")` (on a thread of its own) after each CasHead that any
// process commits on the Postgres database `conninfo` names, and `on_move("")` when it
// (re)connects, since moves made while it was away were not heard.
Result<std::unique_ptr<HeadWatch>> WatchPostgresHeads(const std::string& conninfo,
                                                      std::function<void(const std::string&)> on_move);

}  // namespace datalith
