// Client ids (TxOptions::client_id): an idempotency key recorded on the tx entity, with
// the tempids the transaction reported, so a resend of it is recognised and answered
// with the original outcome instead of being applied again (docs/format.md §3).
#include <cctype>

#include "datalith/db.h"
#include "tx/transactor_impl.h"
#include "util/varint.h"

namespace datalith {

Status CheckClientId(std::string_view id) {
  if (id.empty()) return Status::Invalid("client id is empty (1-64 characters of [A-Za-z0-9._:-])");
  if (id.size() > 64)
    return Status::Invalid("client id is " + std::to_string(id.size()) + " characters long (at most 64)");
  for (size_t i = 0; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    if (std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-') continue;
    return Status::Invalid("client id has a character outside [A-Za-z0-9._:-] at position " + std::to_string(i));
  }
  return Status::Ok();
}

namespace internal {
namespace {

// The tempids as one EDN map of string → id, without "datomic.tx" (it is the tx itself).
std::string EncodeTempids(const std::map<std::string, EntityId>& tempids) {
  std::vector<edn::Node> items;
  for (const auto& [name, id] : tempids) {
    if (name == tx::kTxTempid) continue;
    items.push_back(edn::Node::String(name));
    items.push_back(edn::Node::Long(static_cast<int64_t>(id)));
  }
  return edn::Write(edn::Node::Coll(edn::Kind::kMap, std::move(items)));
}

Result<std::map<std::string, EntityId>> DecodeTempids(const std::string& text, EntityId tx) {
  auto bad = [&] { return Status::Corruption("transaction " + std::to_string(tx) + ": bad :datalith.tx/tempids"); };
  auto node = edn::ReadOne(text);
  if (!node.ok() || !node->is(edn::Kind::kMap)) return bad();
  std::map<std::string, EntityId> out;
  for (size_t i = 0; i + 1 < node->items.size(); i += 2) {
    const edn::Node& k = node->items[i];
    const edn::Node& v = node->items[i + 1];
    if (!k.is(edn::Kind::kString) || !v.is(edn::Kind::kLong) || v.i < 0) return bad();
    out[k.text] = static_cast<EntityId>(v.i);
  }
  out[tx::kTxTempid] = tx;
  return out;
}

}  // namespace

Result<std::optional<ClientTx>> FindClientTx(const std::shared_ptr<const DbState>& state,
                                             const std::string& client) {
  const Attribute* a = state->schema->Attr(sys::kTxClient);
  if (!a || a->ident != tx::kClientIdent) return std::optional<ClientTx>();  // never used
  Db db(state);
  DL_ASSIGN_OR_RETURN(std::vector<Datom> found,
                      db.Datoms(IndexType::kAvet, {Value::Keyword(tx::kClientIdent), Value::String(client)}));
  if (found.empty()) return std::optional<ClientTx>();
  ClientTx out;
  out.tx = found[0].e;
  DL_ASSIGN_OR_RETURN(std::vector<Datom> tempids,
                      db.Datoms(IndexType::kEavt, {Value::Ref(out.tx), Value::Keyword(tx::kTempidsIdent)}));
  if (tempids.size() != 1 || tempids[0].v.type() != ValueType::kString)
    return Status::Corruption("transaction " + std::to_string(out.tx) + " has a client id but no tempids");
  DL_ASSIGN_OR_RETURN(out.tempids, DecodeTempids(tempids[0].v.str(), out.tx));
  return std::optional<ClientTx>(std::move(out));
}

namespace tx {

// Installs the two reserved attributes at their fixed ids, as ordinary schema datoms of
// this transaction: a replica replaying the log (even one built before client ids)
// rebuilds the same schema. Refuses a database where a user took the ids or idents.
Status Transactor::InstallClientAttrs() {
  struct Reserved {
    EntityId id;
    const char* ident;
  };
  const Reserved reserved[] = {{sys::kTxClient, kClientIdent}, {sys::kTxTempids, kTempidsIdent}};
  const Attribute* have = schema_->Attr(sys::kTxClient);
  if (have && have->ident == kClientIdent && schema_->Attr(sys::kTxTempids)) return Status::Ok();
  for (const Reserved& r : reserved) {
    std::optional<EntityId> named = schema_->Entid(r.ident);
    if (named && *named != r.id)
      return Status::Invalid("cannot record client ids: :" + std::string(r.ident) + " names entity " +
                             std::to_string(*named) + ", not the reserved " + std::to_string(r.id));
    std::string prefix;
    PutFixed64BE(&prefix, r.id);
    if (!named && !Scan(IndexType::kEavt, prefix).empty())
      return Status::Invalid("cannot record client ids: the reserved entity " + std::to_string(r.id) +
                             " already has datoms");
  }
  const Attribute& ident = *schema_->Attr(sys::kIdent);
  const Attribute& type = *schema_->Attr(sys::kValueType);
  const Attribute& card = *schema_->Attr(sys::kCardinality);
  for (const Reserved& r : reserved) {
    DL_RETURN_IF_ERROR(Add(r.id, ident, Value::Keyword(r.ident), nullptr));
    DL_RETURN_IF_ERROR(Add(r.id, type, Value::Keyword("db.type/string"), nullptr));
    DL_RETURN_IF_ERROR(Add(r.id, card, Value::Keyword("db.cardinality/one"), nullptr));
  }
  // Looked up by value (AVET); the tempids are only read from their tx entity.
  DL_RETURN_IF_ERROR(Add(sys::kTxClient, *schema_->Attr(sys::kUnique), Value::Keyword("db.unique/value"), nullptr));
  DL_RETURN_IF_ERROR(Add(sys::kTxTempids, *schema_->Attr(sys::kIndex), Value::Boolean(false), nullptr));
  DL_RETURN_IF_ERROR(scan_status_);
  reserved_schema_ok_ = true;
  return ApplySchema();
}

Status Transactor::RecordClient() {
  DL_RETURN_IF_ERROR(InstallClientAttrs());
  DL_RETURN_IF_ERROR(Add(tx_, *schema_->Attr(sys::kTxClient), Value::String(client_), nullptr));
  return Add(tx_, *schema_->Attr(sys::kTxTempids), Value::String(EncodeTempids(ReportedTempids())), nullptr);
}

}  // namespace tx
}  // namespace internal
}  // namespace datalith
