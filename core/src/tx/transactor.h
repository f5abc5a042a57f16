// The transactor: EDN tx data → validated datoms → new index roots.
//
// Pure with respect to the database: it reads the state before and builds a new
// state; nothing is written to storage (the connection persists at flush). Any error
// leaves `before` untouched and names the offending form and why.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datalith/edn.h"
#include "db/db_state.h"
#include "db/tx_log.h"

namespace datalith::internal {

struct TxOutput {
  std::shared_ptr<DbState> after;
  std::vector<Datom> tx_data;
  std::map<std::string, EntityId> tempids;
  EntityId tx = 0;
  size_t key_bytes = 0;  // bytes of index keys written, for the group-commit budget
  std::string log_record;  // the transaction's record in the commit's log (db/tx_log.h)
};

// `now_millis` is the wall clock for :db/txInstant (kept monotonic per database).
// A non-empty `client` (a valid client id, not yet in `before`) is recorded on the tx
// entity with the tempids (client_id.cpp).
Result<TxOutput> Transact(const std::shared_ptr<const DbState>& before, const edn::Node& tx_data,
                          int64_t now_millis, const std::string& client = {});

// The transaction that recorded client id `client`, and its tempids as Transact
// reported them; nullopt if `state` holds no such transaction.
struct ClientTx {
  EntityId tx = 0;
  std::map<std::string, EntityId> tempids;
};
Result<std::optional<ClientTx>> FindClientTx(const std::shared_ptr<const DbState>& state,
                                             const std::string& client);

// Applies a logged transaction (the writer's datoms, db/tx_log.h) to the state before it,
// building what Transact built on the writer. Corruption if it does not follow `before`.
Result<TxOutput> Replay(const std::shared_ptr<const DbState>& before, const LoggedTx& logged);

}  // namespace datalith::internal
