// The transactor (core/src/tx): what a client with a write token sends the sync server
// (`tx`, POST /db/NAME/transact). The input is EDN tx data, transacted on a small
// database with a schema of every kind (identities, refs, components, many, tuples,
// no-history) and then dropped again (Connection::Reset), so every input starts from the
// same state. A transaction either fails, changing nothing (same basis, same datoms),
// with a message, or succeeds: its tempids name entities, every datom it reports added
// is in the new snapshot and every one it reports retracted is not, and the snapshot's
// transaction log holds exactly what it reported. Odd-sized inputs carry a client id.
#include <cstddef>
#include <cstdint>

#include "datalith/db.h"
#include "fuzz_check.h"

using namespace datalith;

namespace {

std::shared_ptr<Connection> g_conn;
uint64_t g_datoms = 0;  // EAVT datoms of the base state

uint64_t CountDatoms(const Db& db) {
  auto all = db.Datoms(IndexType::kEavt, {});
  FUZZ_CHECK(all.ok(), all.status().ToString());
  return all->size();
}

bool Holds(const Db& db, const Datom& d) {
  auto found = db.Datoms(IndexType::kEavt, {Value::Ref(d.e), Value::Ref(d.a), d.v});
  FUZZ_CHECK(found.ok(), found.status().ToString());
  return !found->empty();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CreateOptions options;
  options.max_pending_tx = options.max_pending_bytes = size_t{1} << 40;  // never flush by itself
  g_conn = *Connection::Create(MakeMemoryStore(), options);
  const char* setup[] = {
      R"([{:db/ident :p/name :db/valueType :db.type/string :db/unique :db.unique/identity}
          {:db/ident :p/email :db/valueType :db.type/string :db/unique :db.unique/value}
          {:db/ident :p/age :db/valueType :db.type/long :db/noHistory true}
          {:db/ident :p/score :db/valueType :db.type/double :db/index false}
          {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
          {:db/ident :p/address :db/valueType :db.type/ref :db/isComponent true}
          {:db/ident :a/street :db/valueType :db.type/string}
          {:db/ident :p/tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
          {:db/ident :p/born :db/valueType :db.type/instant}
          {:db/ident :p/id :db/valueType :db.type/uuid}
          {:db/ident :p/pair :db/valueType :db.type/tuple :db/tupleTypes [:db.type/string :db.type/long]}
          {:db/ident :p/name+age :db/valueType :db.type/tuple :db/tupleAttrs [:p/name :p/age]
           :db/unique :db.unique/identity}
          {:db/ident :color/red} {:db/ident :color/blue}])",
      R"([{:db/id "a" :p/name "ann" :p/email "ann@x" :p/age 31 :p/friend "b" :p/tag [:x :y]
           :p/address {:a/street "Main"} :p/pair ["x" 1]}
          {:db/id "b" :p/name "bob" :p/age 27 :p/friend "a"}])",
  };
  for (const char* tx : setup) {
    if (!g_conn->Transact(tx).ok()) std::abort();
  }
  if (!g_conn->Flush().ok()) std::abort();
  g_datoms = CountDatoms(g_conn->db());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tx = edn::ReadOne(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!tx.ok()) return 0;
  const Db before = g_conn->db();
  TxOptions options;
  if (size % 2 == 1) options.client_id = "c-" + std::to_string(size % 5);
  auto r = g_conn->Transact(*tx, options);
  if (std::getenv("FUZZ_TRACE")) {  // what the transactor said
    std::fprintf(stderr, "%s\n", r.ok() ? ("ok, " + std::to_string(r->tx_data.size()) + " datoms").c_str()
                                         : r.status().ToString().c_str());
  }
  if (!r.ok()) {
    FUZZ_CHECK(!r.status().message().empty(), r.status().ToString());
    FUZZ_CHECK(g_conn->db().basis_tx() == before.basis_tx() && g_conn->pending_tx() == 0,
               "a failed transaction changed the database: " + r.status().ToString());
    FUZZ_CHECK(CountDatoms(g_conn->db()) == g_datoms, "a failed transaction changed the datoms");
    return 0;
  }
  const Db& after = r->db_after;
  for (const auto& [name, id] : r->tempids) FUZZ_CHECK(id != 0, "tempid " + name);
  for (const Datom& d : r->tx_data) {
    FUZZ_CHECK(Holds(after, d) == d.added, (d.added ? "added datom missing: " : "retracted datom present: ") +
                                               std::to_string(d.e) + " " + std::to_string(d.a) + " " + d.v.ToString());
  }
  auto logged = g_conn->TxRange(r->tx, r->tx + 1);
  FUZZ_CHECK(logged.ok(), logged.status().ToString());
  if (!r->duplicate) {
    FUZZ_CHECK(logged->size() == 1 && (*logged)[0].datoms.size() == r->tx_data.size(),
               "the log does not hold the transaction's " + std::to_string(r->tx_data.size()) + " datoms");
  }
  Status reset = g_conn->Reset();
  FUZZ_CHECK(reset.ok() && g_conn->db().basis_tx() == before.basis_tx(), "Reset: " + reset.ToString());
  return 0;
}
