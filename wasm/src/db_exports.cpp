// Snapshots, queries and pull (docs/wasm.md, "Raw tier contract"): time views,
// datoms, pull, q, queryDeps. Arguments arrive as EDN text (values, patterns, queries) or JSON
// (query inputs); answers leave as JSON text.
#include <emscripten/bind.h>

#include <cmath>
#include <cstring>

#include "boundary.h"
#include "json_writer.h"
// Not a public header: the dependency analysis lives with the query engine and uses
// only public headers itself.
#include "../../core/src/query/deps.h"

#ifndef DATALITH_VERSION
#define DATALITH_VERSION "0"
#endif

namespace datalith::wasm {
namespace {

// ---- arguments ----

Result<Value> ValueOfEdn(const std::string& text) {
  DL_ASSIGN_OR_RETURN(edn::Node n, edn::ReadOne(text));
  return edn::ToValue(n);
}

Result<std::vector<Value>> ValuesOfEdn(const std::string& text, const char* what) {
  DL_ASSIGN_OR_RETURN(edn::Node n, edn::ReadOne(text));
  if (!n.is(edn::Kind::kVector) && !n.is(edn::Kind::kList))
    return Status::Invalid(n.Where() + ": " + what + " must be a vector");
  std::vector<Value> out;
  for (const edn::Node& item : n.items) {
    DL_ASSIGN_OR_RETURN(Value v, edn::ToValue(item));
    out.push_back(std::move(v));
  }
  return out;
}

Result<QueryInput> InputOf(const Json& j) {
  if (j.is_object() && j.size() == 1) {
    if (auto it = j.find("db"); it != j.end() && it->is_number_integer()) {
      DL_ASSIGN_OR_RETURN(Db * db, dbs.Lookup(it->get<int>()));
      return QueryInput::Database(*db);
    }
    if (auto it = j.find("edn"); it != j.end() && it->is_string()) {
      return QueryInput::Edn(it->get<std::string>());
    }
    if (auto it = j.find("list"); it != j.end() && it->is_array()) {
      std::vector<QueryInput> items;
      for (const Json& item : *it) {
        DL_ASSIGN_OR_RETURN(QueryInput in, InputOf(item));
        items.push_back(std::move(in));
      }
      return QueryInput::List(std::move(items));
    }
  }
  return Status::Invalid("query input " + Describe(j) +
                         ": expected {\"db\": id}, {\"edn\": text} or {\"list\": [...]}");
}

// ---- the functions ----

std::string Version() { return DATALITH_VERSION " (format 1)"; }

// t: a tx id, or (below 2^42) a count of transactions, as Db::AsOf takes it.
int DbAsOf(int db, double t) {
  return Guard([&] { return dbs.Add(dbs.Get(db).AsOf(static_cast<EntityId>(t))); });
}
int DbSince(int db, double t) {
  return Guard([&] { return dbs.Add(dbs.Get(db).Since(static_cast<EntityId>(t))); });
}
int DbHistory(int db) { return Guard([&] { return dbs.Add(dbs.Get(db).History()); }); }

// The views at an instant must read the transaction log, so they may miss nodes.
std::string DbAsOfInstant(int db, double millis) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    DL_ASSIGN_OR_RETURN(Db view, d->AsOfInstant(static_cast<int64_t>(millis)));
    return std::to_string(dbs.Add(std::move(view)));
  });
}
std::string DbSinceInstant(int db, double millis) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    DL_ASSIGN_OR_RETURN(Db view, d->SinceInstant(static_cast<int64_t>(millis)));
    return std::to_string(dbs.Add(std::move(view)));
  });
}

double DbBasis(int db) { return Guard([&] { return static_cast<double>(dbs.Get(db).basis_tx()); }); }
void DbRelease(int db) { dbs.Release(db); }

std::string DbDatoms(int db, std::string index_name, std::string components_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    IndexType index;
    if (!ParseIndexName(index_name, &index))
      return Status::Invalid("unknown index `" + index_name + "` (eavt, aevt, avet or vaet)");
    std::vector<Value> comps;
    if (!components_edn.empty()) {
      DL_ASSIGN_OR_RETURN(comps, ValuesOfEdn(components_edn, "datoms components"));
    }
    DL_ASSIGN_OR_RETURN(std::vector<Datom> datoms, d->Datoms(index, comps));
    JsonOut out;
    AppendDatoms(*d, datoms, &out);
    return out.Take();
  });
}

// The entity ids in the bytes of a Float64Array (little-endian, as JS writes them in
// wasm memory), each a non-negative integer below 2^53.
Result<std::vector<Value>> IdsOfBytes(const std::string& bytes) {
  std::vector<Value> out;
  out.reserve(bytes.size() / 8);
  bool ok = bytes.size() % 8 == 0;
  for (size_t at = 0; ok && at < bytes.size(); at += 8) {
    double v;
    std::memcpy(&v, bytes.data() + at, 8);
    ok = v >= 0 && v < 9007199254740992.0 && v == std::trunc(v);
    if (ok) out.push_back(Value::Long(static_cast<int64_t>(v)));
  }
  if (!ok) return Status::Invalid("entity ids: not the bytes of a Float64Array of integers in [0, 2^53)");
  return out;
}

Result<std::string> PullManyJson(int db, const std::string& pattern_edn,
                                 const Result<std::vector<Value>>& entities) {
  DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
  DL_RETURN_IF_ERROR(entities.status());
  JsonOut out;
  JsonPullWriter writer(&out);
  DL_RETURN_IF_ERROR(PullMany(*d, pattern_edn, *entities, &writer));
  writer.Finish();
  return out.Take();
}

// One entity: the reply of pullMany with one result.
std::string DbPull(int db, std::string pattern_edn, std::string entity_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Value entity, ValueOfEdn(entity_edn));
    return PullManyJson(db, pattern_edn, std::vector<Value>{std::move(entity)});
  });
}

std::string DbPullMany(int db, std::string pattern_edn, std::string entities_edn) {
  return RespondText([&] { return PullManyJson(db, pattern_edn, ValuesOfEdn(entities_edn, "entities")); });
}

// pullMany of entity ids only: the ids as a Float64Array's bytes, no text to write and read.
std::string DbPullManyIds(int db, std::string pattern_edn, std::string id_bytes) {
  return RespondText([&] { return PullManyJson(db, pattern_edn, IdsOfBytes(id_bytes)); });
}

// The inputs of q and queryDeps: a JSON array of InputOf's forms (empty text: none).
Result<std::vector<QueryInput>> InputsOf(const std::string& inputs_json) {
  std::vector<QueryInput> inputs;
  if (inputs_json.empty()) return inputs;
  DL_ASSIGN_OR_RETURN(Json j, ParseJson(inputs_json, "query inputs"));
  if (!j.is_array()) return Status::Invalid("query inputs must be a JSON array");
  for (const Json& item : j) {
    DL_ASSIGN_OR_RETURN(QueryInput in, InputOf(item));
    inputs.push_back(std::move(in));
  }
  return inputs;
}

// The cells of the last answer of qRows that was all numbers (valid until the next call).
std::vector<double> numbers;

std::string RunQuery(const std::string& query_edn, const std::string& inputs_json, bool as_numbers) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(std::vector<QueryInput> inputs, InputsOf(inputs_json));
    DL_ASSIGN_OR_RETURN(QueryTable table, QTable(query_edn, inputs));
    JsonOut out;
    if (as_numbers && TableNumbers(table, &numbers)) {
      // {"#numbers": [shape (0 relation, 1 collection), width, rows]}; the cells are in
      // queryNumbers().
      out.put(table.shape == QueryTable::Shape::kRelation ? "{\"#numbers\":[0," : "{\"#numbers\":[1,");
      AppendLong(static_cast<int64_t>(table.width()), &out);
      out.put(',');
      AppendLong(static_cast<int64_t>(table.rows()), &out);
      out.put("]}");
      return out.Take();
    }
    // The buffer of a large answer is not kept for the life of the module.
    if (numbers.capacity() > (size_t{1} << 16)) std::vector<double>().swap(numbers);
    AppendTable(table, &out);
    return out.Take();
  });
}

std::string Query(std::string query_edn, std::string inputs_json) { return RunQuery(query_edn, inputs_json, false); }

// q for the JS API's d.q: an answer that is a relation or collection of plain numbers
// does not pass through JSON text: the reply is {"ok": {"#numbers": [shape, width,
// rows]}} and queryNumbers() views the cells, row by row. (JSON.parse of thousands of
// small arrays of ids was a third of q1's time in V8.)
std::string QueryRows(std::string query_edn, std::string inputs_json) { return RunQuery(query_edn, inputs_json, true); }

emscripten::val QueryNumbers() { return emscripten::val(emscripten::typed_memory_view(numbers.size(), numbers.data())); }

// The datoms that can change the query's result, given the inputs q would take
// (core/src/query/deps.h): {"sources": {"$": [{"a": ":ns/attr", "e": id, "v": value},
// ...]}, "in": [["$"], ...]}; a part left out matches any. Runs once per subscription:
// compiled for size, as deps.cpp is.
#pragma clang attribute push(__attribute__((minsize)), apply_to = function)
std::string QueryDeps(std::string query_edn, std::string inputs_json) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(std::vector<QueryInput> inputs, InputsOf(inputs_json));
    DL_ASSIGN_OR_RETURN(query::QueryDeps deps, query::Dependencies(query_edn, inputs));
    JsonOut out;
    out.put("{\"sources\":{");
    bool first_source = true;
    for (const auto& [source, patterns] : deps.sources) {
      if (!first_source) out.put(',');
      first_source = false;
      AppendString(source, &out);
      out.put(":[");
      for (size_t i = 0; i < patterns.size(); ++i) {
        const query::DatomPattern& p = patterns[i];
        out.put(i ? ",{" : "{");
        const char* sep = "";
        if (!p.attr.empty()) {
          out.put("\"a\":");
          AppendString(p.attr, &out, ":");
          sep = ",";
        }
        if (p.e) {
          out.put(sep);
          out.put("\"e\":");
          AppendLong(static_cast<int64_t>(p.e), &out);
          sep = ",";
        }
        if (!p.v.is_nil()) {
          out.put(sep);
          out.put("\"v\":");
          AppendJson(edn::FromValue(p.v), &out);
        }
        out.put('}');
      }
      out.put(']');
    }
    out.put("},\"in\":[");
    for (size_t i = 0; i < deps.in.size(); ++i) {
      out.put(i ? ",[" : "[");
      for (size_t k = 0; k < deps.in[i].size(); ++k) {
        if (k) out.put(',');
        AppendString(deps.in[i][k], &out);
      }
      out.put(']');
    }
    out.put("]}");
    return out.Take();
  });
}
#pragma clang attribute pop

}  // namespace
}  // namespace datalith::wasm

EMSCRIPTEN_BINDINGS(datalith_dbs) {
  using namespace datalith::wasm;
  using emscripten::function;
  function("version", &Version);
  function("dbAsOf", &DbAsOf);
  function("dbSince", &DbSince);
  function("dbAsOfInstant", &DbAsOfInstant);
  function("dbSinceInstant", &DbSinceInstant);
  function("dbHistory", &DbHistory);
  function("dbBasis", &DbBasis);
  function("dbRelease", &DbRelease);
  function("dbDatoms", &DbDatoms);
  function("dbPull", &DbPull);
  function("dbPullMany", &DbPullMany);
  function("dbPullManyIds", &DbPullManyIds);
  function("q", &Query);
  function("qRows", &QueryRows);
  function("queryNumbers", &QueryNumbers);
  function("queryDeps", &QueryDeps);
}
