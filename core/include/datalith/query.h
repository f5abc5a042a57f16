// Datalog queries and the pull API.
//
// Queries, rules and pull patterns are EDN text (or parsed EDN nodes), as in Datomic
// and Datahike. Results are EDN nodes shaped by the find spec:
//   relation  [:find ?a ?b]        → a set of vectors  #{[1 "x"] ...}
//   collection [:find [?a ...]]    → a vector          [1 2 3]
//   tuple     [:find [?a ?b]]      → a vector          [1 "x"]   (nil when no row)
//   scalar    [:find ?a .]         → the value                   (nil when no row)
//   :keys/:strs/:syms              → a vector of maps  [{:a 1 :b "x"} ...]
// Entity ids (refs) come back as longs. Errors name the problem and the line/column of
// the offending form. Everything here is a pure function of its inputs and
// thread-safe; parsed queries are cached by text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/db.h"
#include "datalith/edn.h"
#include "datalith/status.h"

namespace datalith {

// One argument of a query's :in: a database, EDN data (scalars, tuples, collections,
// relations, rule sets for %), or a list of inputs, which lets data and databases mix:
// QueryInput::List({QueryInput::List({QueryInput::Data(edn "acme"), QueryInput::Database(db1)}),
//                   ...}) binds `[[?tenant $db] ...]`.
struct QueryInput {
  enum class Kind : uint8_t { kDatabase, kData, kList };
  Kind kind = Kind::kData;
  Db db;
  edn::Node data;
  std::vector<QueryInput> items;

  static QueryInput Database(Db d);
  static QueryInput Data(edn::Node n);
  static QueryInput List(std::vector<QueryInput> items);
  // Parses EDN text into a kData input (rules, scalars, collections).
  static Result<QueryInput> Edn(std::string_view text);
};

struct QueryOptions {
  // Safety limit on the rows of any intermediate relation; exceeding it is an error
  // (not a silent truncation). 0 = unlimited.
  uint64_t max_rows = 50'000'000;
};

// A query's answer before it becomes EDN, for callers that serialise results
// themselves (the WASM bindings write JSON straight from it). One row per result row,
// one cell per find element: plain values, except pull and aggregate elements, which
// are EDN nodes. ToEdn gives exactly what Q returns.
class QueryTable {
 public:
  enum class Shape : uint8_t { kRelation, kCollection, kTuple, kScalar };
  Shape shape = Shape::kRelation;
  bool as_vector = false;  // a relation as a vector (:keys/:strs/:syms, a :with bag), not a set
  // :keys / :strs / :syms: each row is a map from these names (keywords, strings or
  // symbols) to its cells.
  enum class Keys : uint8_t { kNone, kKeys, kStrs, kSyms };
  Keys keys = Keys::kNone;
  std::vector<std::string> key_names;

  size_t width() const { return node_slot_.size(); }  // find elements
  size_t rows() const { return width() == 0 ? 0 : values_.size() / width(); }
  // Whether column `col` holds EDN nodes (pull, aggregates) rather than values.
  bool is_node(size_t col) const { return node_slot_[col] >= 0; }
  const Value& value(size_t row, size_t col) const { return values_[row * width() + col]; }
  edn::Node& node(size_t row, size_t col) { return nodes_[row * node_width_ + node_slot_[col]]; }
  const edn::Node& node(size_t row, size_t col) const { return nodes_[row * node_width_ + node_slot_[col]]; }

  // Building (the engine): the columns first, then the cells row by row, left to right.
  void AddColumn(bool node) { node_slot_.push_back(node ? static_cast<int>(node_width_++) : -1); }
  void Reserve(size_t rows) {
    values_.reserve(rows * width());
    nodes_.reserve(rows * node_width_);
  }
  void AddValue(Value v) { values_.push_back(std::move(v)); }
  void AddNode(edn::Node n) {
    values_.emplace_back();  // nil in node columns
    nodes_.push_back(std::move(n));
  }

 private:
  std::vector<int> node_slot_;  // per column: its index among node columns, or -1
  size_t node_width_ = 0;       // node columns
  std::vector<Value> values_;   // rows × width, row-major
  std::vector<edn::Node> nodes_;  // rows × node columns, row-major
};

// Runs a query (vector or map form, incl. :limit/:offset) against its inputs.
Result<edn::Node> Q(std::string_view query, const std::vector<QueryInput>& inputs,
                    const QueryOptions& options = {});
Result<QueryTable> QTable(std::string_view query, const std::vector<QueryInput>& inputs,
                          const QueryOptions& options = {});
edn::Node ToEdn(QueryTable table);
Result<edn::Node> Q(const edn::Node& query, const std::vector<QueryInput>& inputs,
                    const QueryOptions& options = {});

// The plan the engine picks for the query with these inputs, as readable text: the
// order of clauses, the index and bound components of each pattern, estimated and
// actual row counts. Runs the query to report actual counts.
Result<std::string> Explain(std::string_view query, const std::vector<QueryInput>& inputs,
                            const QueryOptions& options = {});

// Pull: a pattern (EDN vector) applied to one entity, giving a map. Supports attribute
// names, *, nested maps {:attr pattern}, reverse refs :_attr, recursion (... or a
// depth), (limit :attr n), (default :attr v), [:attr :as "alias"] and the other
// attr-with-options forms, :db/id; components are pulled as nested maps. `entity` is an
// id (Long/Ref), an ident (Keyword) or a lookup ref (Tuple [attr value]). An entity
// with none of the pattern's attributes gives nil (like Datomic), and so does an
// ident or lookup ref that names nothing. The pattern is compiled once per call.
// Grammar and semantics: docs/pull.md. Malformed patterns are InvalidArgument errors
// naming the line and column; a history view is Unsupported.
Result<edn::Node> Pull(const Db& db, std::string_view pattern, const Value& entity);
Result<edn::Node> Pull(const Db& db, const edn::Node& pattern, const Value& entity);
// One result per entity, in order.
Result<std::vector<edn::Node>> PullMany(const Db& db, std::string_view pattern,
                                        const std::vector<Value>& entities);
Result<std::vector<edn::Node>> PullMany(const Db& db, const edn::Node& pattern,
                                        const std::vector<Value>& entities);

// Where a pull writes its results, for a caller that wants them as something other
// than EDN nodes (the WASM build writes JSON text straight from the index, without
// building nodes). Calls arrive in document order: maps and vectors open and close,
// a map's entries are Key then one value. A nested entity or key can turn out to have
// nothing: the puller then takes back what it wrote since a Mark() with Rollback(),
// so a writer must be able to; Mark() is unchanged when nothing was written, and
// changes once a value was. (A writer may hold a map's key back until its value: the
// puller takes marks before a key, never between a key and its value.)
// A key node stays alive and unchanged for the whole call, so a writer may remember
// what it made of one by its address.
class PullWriter {
 public:
  virtual ~PullWriter() = default;
  virtual void BeginMap(size_t entries) = 0;  // entries: how many it will likely hold
  virtual void EndMap() = 0;
  virtual void BeginVector() = 0;
  virtual void EndVector() = 0;
  virtual void Key(const edn::Node& key) = 0;      // a keyword, string or long
  virtual void Scalar(const Value& value) = 0;     // as edn::FromValue(value) would give it
  virtual void Data(const edn::Node& node) = 0;    // :db/id, a default value
  virtual void Nil() = 0;
  virtual uint64_t Mark() const = 0;
  virtual void Rollback(uint64_t mark) = 0;
};

// PullMany into a writer: one value per entity, in order, each a map or nil (nothing
// around them). On error the writer holds part of a result; the caller drops it.
Status PullMany(const Db& db, std::string_view pattern, const std::vector<Value>& entities,
                PullWriter* out);

}  // namespace datalith
