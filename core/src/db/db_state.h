// The immutable state behind a Db, and the cursor that reads it through time views.
#pragma once

#include <memory>
#include <optional>

#include "datalith/db.h"
#include "db/keys.h"
#include "index/btree.h"

namespace datalith::internal {

struct DbState {
  std::shared_ptr<index::NodeSource> src;
  index::Child current[kIndexCount];
  index::Child history[kIndexCount];
  std::shared_ptr<const Schema> schema;
  EntityId max_eid = kFirstUserEid - 1;
  EntityId max_tx = kTx0;
  int64_t last_instant = 0;  // :db/txInstant of max_tx
  bool keep_history = true;
  Address commit;  // the persisted commit equal to this state; zero while pending
};

// Walks one index of a state in [lo, hi) through the time view of a Db.
class DatomCursor {
 public:
  struct View {
    std::optional<EntityId> as_of;
    std::optional<EntityId> since;
    bool history = false;
  };
  DatomCursor(std::shared_ptr<const DbState> state, IndexType index, std::string lo,
              std::string hi, View view);

  bool Valid() const { return valid_; }
  void Next() { Advance(); }
  // Moves forward to the first datom whose key is >= `target` (see DatomIterator).
  void SkipTo(std::string_view target);
  const Datom& datom() const { return datom_; }
  const Status& status() const { return status_; }

 private:
  // Seeks both trees (only forward if `forward`); false after a storage error.
  bool SeekTrees(std::string_view target, bool forward);
  // Positions on the next key of the merged stream within [lo, hi); false at the end.
  bool Peek(std::string_view* key, bool* from_history);
  void Step(bool from_history);
  void Advance();
  bool Fail(const Status& s);

  std::shared_ptr<const DbState> state_;
  IndexType index_;
  std::string hi_;
  View view_;
  index::Iterator cur_;
  index::Iterator hist_;
  bool use_history_;
  bool valid_ = false;
  Datom datom_;
  std::string key_;  // datom_'s key (without a history flag)
  Status status_;
};

}  // namespace datalith::internal
