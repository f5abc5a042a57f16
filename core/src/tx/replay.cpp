// Replay: a logged transaction (db/tx_log.h) applied to the state before it, by the
// transactor's own schema and index code, so a replica rebuilds exactly the trees the
// writer built (the commit address it then computes proves it, docs/sync-protocol.md).
// Nothing is resolved or validated again: the datoms are the writer's.
#include "tx/transactor_impl.h"

namespace datalith::internal {
namespace tx {

Result<TxOutput> Transactor::Replay(const LoggedTx& t) {
  if (t.tx != tx_) {
    return Status::Corruption("log: transaction " + std::to_string(t.tx) + " does not follow " +
                              std::to_string(before_->max_tx));
  }
  if (t.max_eid < before_->max_eid) return Status::Corruption("log: entity ids go backwards");
  next_eid_ = t.max_eid + 1;
  reserved_schema_ok_ = true;  // the writer checked: the log may install the client id attributes
  for (const Datom& d : t.datoms) {
    if (d.added) {
      adds_.Insert(Datom{d.e, d.a, d.v, tx_, true});
      if (d.a <= sys::kTupleTypes && d.a != sys::kTxInstant) schema_entities_.insert(d.e);
    } else {
      retracts_.Insert(Datom{d.e, d.a, d.v, d.tx, true});  // as Retract finds it
      if (d.a <= sys::kTupleTypes) schema_entities_.insert(d.e);
    }
  }
  DL_RETURN_IF_ERROR(ApplySchema());
  DL_RETURN_IF_ERROR(scan_status_);
  // Schema-on-read: an attribute first used by this transaction, installed untyped as
  // AttrFor did on the writer (its ident is in the schema by now).
  if (schema_->flexibility() == SchemaFlexibility::kRead) {
    std::shared_ptr<Schema> next;
    for (const Datom& d : t.datoms) {
      if (!d.added || schema_->Attr(d.a) || (next && next->Attr(d.a))) continue;
      const std::string* ident = schema_->Ident(d.a);
      if (!ident) return Status::Corruption("log: datom of entity " + std::to_string(d.e) +
                                            " names attribute " + std::to_string(d.a) + ", which has no ident");
      if (!next) next = std::make_shared<Schema>(*schema_);
      Attribute a;
      a.id = d.a;
      a.ident = *ident;
      next->PutAttr(a);
    }
    if (next) {
      next->Reindex();
      schema_ = next;
    }
  }
  return Finish();
}

}  // namespace tx

Result<TxOutput> Replay(const std::shared_ptr<const DbState>& before, const LoggedTx& logged) {
  tx::Transactor t(before, logged.tx);  // `now` is unused: the log holds :db/txInstant
  return t.Replay(logged);
}

}  // namespace datalith::internal
