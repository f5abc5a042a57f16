// Private to tx/: the Transactor class, shared by the files that implement it:
// transactor.cpp (parsing, resolution, datom logic), schema_tx.cpp (schema changes)
// and index_edits.cpp (the new index roots).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tx/datom_set.h"
#include "tx/transactor.h"

namespace datalith::internal::tx {

using edn::Kind;
using edn::Node;

inline constexpr const char* kTxTempid = "datomic.tx";
inline constexpr const char* kClientIdent = "datalith.tx/client";
inline constexpr const char* kTempidsIdent = "datalith.tx/tempids";
// The namespace of the client id attributes: only the client id option writes them.
inline constexpr std::string_view kReservedNs = "datalith.tx/";

// An entity reference as written in tx data.
struct ERef {
  enum class Kind { kId, kTemp, kLookup, kIdent, kTx } kind = Kind::kId;
  EntityId id = 0;
  std::string name;  // tempid or ident
  const Node* node = nullptr;  // where it was written (a lookup ref: its [attr value])
};

// A value position: either an EDN form (converted once the attribute is known) or an
// entity reference made by the parser (nested maps, reverse attributes).
struct VRef {
  const Node* node = nullptr;
  const ERef* eref = nullptr;  // owned by the transactor
};

enum class OpKind { kAdd, kRetract, kRetractAttr, kRetractEntity, kCas };

// Ops point into the tx data (which outlives the transactor) and into the
// transactor's own stable storage, so building one copies no strings.
struct Op {
  OpKind kind;
  const ERef* e;
  const std::string* attr;  // keyword text
  VRef v;
  const Node* old;   // :db/cas expected value (may be nil)
  const Node* form;  // for messages
  bool schema = false;
};

// One transaction, run once: Run parses the tx data into ops, resolves and applies them
// to the datom sets, then Finish turns those into the state after.
class Transactor {
 public:
  Transactor(std::shared_ptr<const DbState> before, int64_t now)
      : before_(std::move(before)), now_(now) {
    tx_ = before_->max_tx + 1;
    next_eid_ = before_->max_eid + 1;
    schema_ = before_->schema;
  }

  Result<TxOutput> Run(const Node& tx_data);
  void set_client(std::string client) { client_ = std::move(client); }
  Result<TxOutput> Replay(const LoggedTx& logged);  // replay.cpp

 private:
  Result<TxOutput> RunSteps(const Node& tx_data);  // Run, before its check of scan_status_
  // ---- parsing ----
  Status Parse(const Node& tx_data);
  Status ParseEntityMap(const Node& m, ERef* self);
  Status ParseListForm(const Node& f);
  // Parses into `r` (nested maps add their ops) / into a new transactor-owned ERef.
  Status ParseERefInto(const Node& n, ERef* r);
  Result<const ERef*> ParseERef(const Node& n) {
    ERef* r = &erefs_.emplace_back();
    DL_RETURN_IF_ERROR(ParseERefInto(n, r));
    return r;
  }
  const std::string* Name(std::string s) { return &names_.emplace_back(std::move(s)); }
  // A 2-vector [attr value] is a lookup ref, unless both are keywords and the first
  // names no attribute: then it is a collection of two idents ([:color/red :color/blue]).
  bool IsLookupRef(const Node& n) const {
    return n.is(Kind::kVector) && n.items.size() == 2 && n.items[0].is(Kind::kKeyword) &&
           (!n.items[1].is(Kind::kKeyword) || schema_->AttrByIdent(n.items[0].text) != nullptr);
  }
  std::string AutoTempid() { return "\x01" + std::to_string(++auto_tempids_); }

  // ---- resolution ----
  Result<EntityId> Resolve(const ERef& r, const Node* where);
  Result<Value> ConvertValue(const Attribute& a, const VRef& v, const Node* where, bool resolve);
  Result<const Attribute*> AttrFor(const Op& op);
  Status ResolveTempids(std::vector<Op*>& ops, const std::vector<const Attribute*>& attrs);
  Status RunOps(std::vector<Op*>& ops);

  // ---- datom logic ----
  Status Add(EntityId e, const Attribute& a, Value v, const Node* where);
  Status Retract(EntityId e, const Attribute& a, const Value& v);
  Status RetractAttr(EntityId e, const Attribute& a);
  Status RetractEntity(EntityId e, std::set<EntityId>* seen);
  std::vector<Datom> Scan(IndexType index, const std::string& prefix);
  std::vector<Datom> CurrentValues(EntityId e, const Attribute& a);
  Status ApplySchema();
  Status UpdateTuples();
  Status CheckUnique();
  Result<TxOutput> Finish();
  std::map<std::string, EntityId> ReportedTempids() const;

  // ---- client ids (client_id.cpp) ----
  Status InstallClientAttrs();
  Status RecordClient();

  Status Err(const Node* where, const std::string& msg) {
    return Status::Invalid((where ? where->Where() + ": " : std::string()) + msg);
  }

  std::shared_ptr<const DbState> before_;
  int64_t now_;
  EntityId tx_;
  EntityId next_eid_;
  std::shared_ptr<const Schema> schema_;
  std::vector<Op> ops_;
  std::deque<ERef> erefs_;         // entity references the ops point to
  std::deque<std::string> names_;  // attribute names made by the parser
  int auto_tempids_ = 0;
  std::unordered_map<std::string, EntityId> tempids_;
  DatomSet adds_;
  DatomSet retracts_;  // retracted datoms (with the tx that asserted them)
  // a + v → the entity this tx asserts a unique value for, and the form that did.
  struct UniqueClaim {
    EntityId e;
    const Node* where;
  };
  std::map<std::string, UniqueClaim> unique_adds_;
  std::set<EntityId> schema_entities_;
  std::set<EntityId> reindex_;  // attributes whose AVET membership this tx changed
  // Canonical tempids used as an entity (e position) and as a value (with its form):
  // a tempid used only as a value would name an entity without datoms.
  std::unordered_set<std::string> entity_tempids_;
  std::map<std::string, const Node*> value_tempids_;
  std::set<std::pair<EntityId, EntityId>> touched_;  // (e, a) for composite tuples
  Status scan_status_;  // first storage error met by Scan
  std::string client_;  // the client id to record, or empty
  // The schema of the client id attributes may change: only while installing them, or
  // replaying the writer's install (a user changing it would break the dedupe).
  bool reserved_schema_ok_ = false;
};

inline std::string WhereOf(const Node* n) { return n ? n->Where() + ": " : std::string(); }

}  // namespace datalith::internal::tx
