// The immutable state behind a Db, and the cursor that reads it through time views.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "datalith/db.h"
#include "db/keys.h"
#include "index/btree.h"
#include "index/live.h"

namespace datalith::internal {

struct DbState {
  std::shared_ptr<index::NodeSource> src;
  index::Child current[kIndexCount];
  index::Child history[kIndexCount];
  // Each tree's live index (index/live.h; null when empty): edits of recent
  // transactions not yet applied to the tree. Folded before the trees are persisted.
  std::shared_ptr<const index::Live> current_live[kIndexCount];
  std::shared_ptr<const index::Live> history_live[kIndexCount];
  size_t live_entries = 0;  // over all of them
  // The same state with its live indices folded, made by the first read that wants it
  // (Readable). A copy of the state starts without one.
  struct FoldedTwin {
    FoldedTwin() = default;
    FoldedTwin(const FoldedTwin&) {}
    FoldedTwin& operator=(const FoldedTwin&) { return *this; }
    std::mutex mu;
    std::shared_ptr<const DbState> state;  // guarded by mu
  };
  mutable FoldedTwin folded;
  std::shared_ptr<const Schema> schema;
  EntityId max_eid = kFirstUserEid - 1;
  EntityId max_tx = kTx0;
  int64_t last_instant = 0;  // :db/txInstant of max_tx
  bool keep_history = true;
  Address commit;  // the persisted commit equal to this state; zero while pending
};

// Entries of a tree with its live index.
uint64_t TreeCount(const DbState& s, bool history, int index);
// Entries of a tree in [lo, hi) (an empty hi: no bound), with its live index.
Result<uint64_t> TreeCountRange(const DbState& s, int index, std::string_view lo, std::string_view hi);
// Adds a transaction's edits of one tree (sorted, unique keys, each changing the tree):
// to its live index, which is folded into the tree once it is full (Live::Full); a
// batch that large is applied to the tree directly (after folding the live index).
Status AddEdits(DbState* s, bool history, int index, const index::KeyEdit* begin,
                const index::KeyEdit* end);
// Folds every live index into its tree (before the trees are persisted or read raw).
Status FoldLive(DbState* s);
bool HasLive(const DbState& s);
// Reads (queries, pull, datoms) of a state with at least this many live entries go to
// its folded twin: merging many runs into every seek would cost more than folding once.
constexpr size_t kReadFoldAt = 256;
// The state a read should walk: `s`, or its folded twin (made now if need be).
std::shared_ptr<const DbState> Readable(const std::shared_ptr<const DbState>& s);
// `s`'s folded twin if a read made one (a writer builds on it), else `s`.
std::shared_ptr<const DbState> Settled(const std::shared_ptr<const DbState>& s);

// Walks one index of a state in [lo, hi) through the time view of a Db.
class DatomCursor {
 public:
  struct View {
    std::optional<EntityId> as_of;
    std::optional<EntityId> since;
    bool history = false;
  };
  // `fold`: read `Readable(state)` (the transactor's lookups read the live runs as they
  // are instead).
  DatomCursor(std::shared_ptr<const DbState> state, IndexType index, std::string lo,
              std::string hi, View view, bool fold = true);

  bool Valid() const { return valid_; }
  void Next();
  // Moves forward to the first datom whose key is >= `target` (see DatomIterator).
  void SkipTo(std::string_view target);
  const Datom& datom() const { return datom_; }
  const Status& status() const { return status_; }

 private:
  // Where the current datom's key is: the entry a tree iterator stands on (so the key
  // is not copied), or `key_` (an asOf view's datom, made from several entries).
  enum class On : uint8_t { kNone, kCurrent, kHistory, kOwned };

  // Seeks both trees (only forward if `forward`); false after a storage error.
  bool SeekTrees(std::string_view target, bool forward);
  // Positions on the next key of the merged stream within [lo, hi); false at the end.
  bool Peek(std::string_view* key, bool* from_history);
  void Step(bool from_history);
  // Makes the first visible datom at or after the trees' positions current.
  void Settle();
  bool Fail(const Status& s);
  std::string_view key() const {
    return on_ == On::kOwned ? std::string_view(key_) : on_ == On::kHistory ? hist_.key() : cur_.key();
  }

  std::shared_ptr<const DbState> state_;
  IndexType index_;
  std::string hi_;
  View view_;
  index::LiveIterator cur_;
  index::LiveIterator hist_;
  bool use_history_;
  bool valid_ = false;
  On on_ = On::kNone;
  Datom datom_;
  std::string key_;  // an asOf view's datom's key (without a history flag)
  Status status_;
};

}  // namespace datalith::internal
