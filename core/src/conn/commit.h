// The commit record (docs/format.md §4): what a branch head points at. It names the
// index roots with their datom counts, the parent commit, the first and last tx of the
// commit's transactions, the schema, the history flag and (version 2) the log segments
// holding the transactions' datoms. Encoding is deterministic,
// so the record is content-addressed like a tree node.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/store.h"
#include "db/db_state.h"

namespace datalith::internal {

struct Commit {
  Address parent;
  EntityId first_tx = 0;
  std::shared_ptr<DbState> state;  // roots as addresses; nothing below them is loaded
  std::vector<Address> log;        // the log segments of its transactions (db/tx_log.h)
};

// The canonical bytes of the commit of `s` (its roots must be persisted), version 2.
std::string EncodeCommit(const DbState& s, const Address& parent, EntityId first_tx,
                         const std::vector<Address>& log);
// Decodes canonical bytes; the state reads its nodes through `src`. Corruption names
// the commit's address and what is wrong.
Result<Commit> DecodeCommit(std::string_view canonical, const Address& addr,
                            const std::shared_ptr<index::NodeSource>& src);
// Reads, verifies and decodes the commit at `addr` (kMissingNode from a store that
// has not loaded it yet, like any blob).
Result<Commit> LoadCommit(Store& store, const Address& addr,
                          const std::shared_ptr<index::NodeSource>& src);

}  // namespace datalith::internal
