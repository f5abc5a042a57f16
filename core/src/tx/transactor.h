// The transactor: EDN tx data → validated datoms → new index roots.
//
// Pure with respect to the database: it reads the state before and builds a new
// state; nothing is written to storage (the connection persists at flush). Any error
// leaves `before` untouched and names the offending form and why.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datalith/edn.h"
#include "db/db_state.h"

namespace datalith::internal {

struct TxOutput {
  std::shared_ptr<DbState> after;
  std::vector<Datom> tx_data;
  std::map<std::string, EntityId> tempids;
  EntityId tx = 0;
  size_t key_bytes = 0;  // bytes of index keys written, for the group-commit budget
};

// `now_millis` is the wall clock for :db/txInstant (kept monotonic per database).
Result<TxOutput> Transact(const std::shared_ptr<const DbState>& before, const edn::Node& tx_data,
                          int64_t now_millis);

}  // namespace datalith::internal
