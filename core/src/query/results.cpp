// Result shaping and the entry points: the parse cache, Validate, Execute (runs each
// world, groups rows for aggregates, pages, pulls, fills the QueryTable), ToEdn, Q,
// QTable and Explain.
#include <algorithm>
#include <list>
#include <mutex>
#include <set>
#include <unordered_map>

#include "query/builtins.h"
#include "query/exec.h"

namespace datalith {
namespace query::internal {
namespace {

// Parsed queries by text (the parse is a noticeable part of small queries).
class QueryCache {
 public:
  Result<std::shared_ptr<const Query>> Get(std::string_view text) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(std::string(text));
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    DL_ASSIGN_OR_RETURN(edn::Node form, edn::ReadOne(text));
    DL_ASSIGN_OR_RETURN(std::shared_ptr<Query> q, ParseQuery(form));
    order_.push_front(std::string(text));
    map_[std::string(text)] = {q, order_.begin()};
    if (map_.size() > kMax) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    return std::shared_ptr<const Query>(q);
  }

 private:
  static constexpr size_t kMax = 256;
  std::mutex mu_;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const Query>, std::list<std::string>::iterator>> map_;
};

QueryCache& Cache() {
  static QueryCache* cache = new QueryCache();
  return *cache;
}

// Checks what can be checked before running: function names and arities, rule names
// and arities, aggregates. (Running alone would miss them after an empty clause.)
Status Validate(const Query& q, const std::vector<Clause>& clauses) {
  for (const Clause& c : clauses) {
    if (c.kind == Clause::Kind::kPredicate || c.kind == Clause::Kind::kFunction) {
      std::pair<int, int> arity;
      if (auto sp = SpecialFnArity(c.fn)) {
        arity = *sp;
      } else if (const Builtin* b = FindBuiltin(c.fn)) {
        arity = {b->min_args, b->max_args};
      } else {
        return ErrAt(c.pos, "unknown function `" + c.fn + "` in " + c.text);
      }
      int n = static_cast<int>(c.terms.size());
      if (n < arity.first || (arity.second >= 0 && n > arity.second)) {
        return ErrAt(c.pos, "wrong number of arguments to `" + c.fn + "`: " + std::to_string(n));
      }
    } else if (c.kind == Clause::Kind::kRule) {
      auto it = q.rules.find(c.fn);
      if (it == q.rules.end()) return ErrAt(c.pos, "unknown rule `" + c.fn + "` (pass rules as % in :in)");
      if (it->second[0].head.size() != c.terms.size()) {
        return ErrAt(c.pos, "rule " + c.fn + " takes " + std::to_string(it->second[0].head.size()) +
                                " arguments, got " + std::to_string(c.terms.size()));
      }
    }
    DL_RETURN_IF_ERROR(Validate(q, c.children));
  }
  return Status::Ok();
}

Status Validate(const Query& q) {
  for (const FindElem& f : q.find) {
    if (f.kind == FindElem::Kind::kAggregate && !IsAggregate(f.fn)) {
      return ErrAt(f.pos, "unknown aggregate `" + f.fn + "` in " + f.text);
    }
  }
  DL_RETURN_IF_ERROR(Validate(q, q.where));
  for (const auto& [name, defs] : q.rules)
    for (const Rule& r : defs) DL_RETURN_IF_ERROR(Validate(q, r.body));
  return Status::Ok();
}

// An empty table with the query's shape and columns; `bag` (:with, no aggregate): a vector.
QueryTable NewTable(const Query& q, bool bag) {
  static_assert(static_cast<int>(QueryTable::Shape::kScalar) == static_cast<int>(Query::Shape::kScalar) &&
                static_cast<int>(QueryTable::Keys::kSyms) == static_cast<int>(Query::Keys::kSyms));
  QueryTable table;
  table.shape = static_cast<QueryTable::Shape>(q.shape);
  table.as_vector = q.keys != Query::Keys::kNone || bag;
  table.keys = static_cast<QueryTable::Keys>(q.keys);
  table.key_names = q.key_names;
  for (const FindElem& f : q.find)
    table.AddColumn(f.kind == FindElem::Kind::kAggregate || f.kind == FindElem::Kind::kPull);
  return table;
}

Result<QueryTable> Execute(std::shared_ptr<const Query> parsed, const std::vector<QueryInput>& inputs,
                          const QueryOptions& options, std::vector<std::string>* explain) {
  // Rules arrive as an input: parse them into a private copy of the query.
  std::shared_ptr<const Query> q = parsed;
  std::shared_ptr<Query> with_rules;
  for (const Binding& b : parsed->in) {
    if (b.kind == Binding::Kind::kRules) {
      with_rules = std::make_shared<Query>(*parsed);
      q = with_rules;
    }
  }
  DL_ASSIGN_OR_RETURN(std::vector<World> worlds, BindInputs(*q, with_rules.get(), inputs));
  DL_RETURN_IF_ERROR(Validate(*q));
  std::set<std::string> recursive = RecursiveRules(*q);
  // Every find/with variable must be bound by :in or :where.
  std::vector<VarId> vars;
  for (const FindElem& f : q->find)
    if (std::find(vars.begin(), vars.end(), f.var) == vars.end()) vars.push_back(f.var);
  size_t nfind = vars.size();
  for (VarId v : q->with)
    if (std::find(vars.begin(), vars.end(), v) == vars.end()) vars.push_back(v);

  bool aggregate = false;
  for (const FindElem& f : q->find) aggregate = aggregate || f.kind == FindElem::Kind::kAggregate;
  // Output rows: the grouping values and, per aggregate element, its bag of values;
  // each keeps its world for pull.
  struct OutRow {
    std::vector<Value> keys;  // grouping values (non-aggregate elements)
    size_t world = 0;
    std::vector<std::vector<Value>> bags;  // per aggregate element
  };
  std::vector<OutRow> out;
  auto col_of = [&](VarId v) {
    return static_cast<size_t>(std::find(vars.begin(), vars.end(), v) - vars.begin());
  };
  // :with without aggregates gives a bag: one row per distinct find+with tuple.
  const bool bag = !aggregate && !q->with.empty();
  bool has_pull = false;
  for (const FindElem& f : q->find) has_pull = has_pull || f.kind == FindElem::Kind::kPull;
  // One world, no aggregate, pull or paging (the common case): the collected relation
  // (distinct over the find and :with variables) already is the answer, one output row
  // per row, its values moved to the table.
  const bool direct = worlds.size() == 1 && !aggregate && !has_pull && q->limit < 0 && q->offset <= 0;
  // Rows over vars + world index.
  std::vector<std::vector<Value>> rows;
  for (size_t w = 0; w < worlds.size(); ++w) {
    Env env;
    env.q = q.get();
    env.sources = &worlds[w].sources;
    env.opts = &options;
    env.explain = explain;
    env.recursive = recursive;
    if (explain && worlds.size() > 1) explain->push_back("world " + std::to_string(w + 1) + ":");
    Ctx ctx;
    for (Rel& r : worlds[w].rels) {
      if (r.rows == 0) ctx.empty = true;
      ctx.rels.push_back(std::move(r));
    }
    DL_RETURN_IF_ERROR(RunClauses(env, ctx, Pointers(q->where), vars));
    for (size_t i = 0; i < vars.size(); ++i) {
      if (!ctx.Bound(vars[i]) && !ctx.empty) {
        const FindElem* f = nullptr;
        for (const FindElem& e : q->find)
          if (e.var == vars[i]) f = &e;
        return ErrAt(f ? f->pos : edn::Pos{}, "unbound variable " + env.Name(vars[i]) + " in " +
                                                 (i < nfind ? ":find" : ":with") +
                                                 " (bind it in :in or :where)");
      }
    }
    DL_ASSIGN_OR_RETURN(Rel r, Collect(env, ctx, vars));
    if (direct) {
      std::vector<size_t> cols;
      for (const FindElem& f : q->find) cols.push_back(col_of(f.var));
      QueryTable table = NewTable(*q, bag);
      table.Reserve(r.rows);
      // A variable found twice (:find ?x ?x) is copied but for its last use.
      std::vector<bool> last(cols.size());
      for (size_t j = 0; j < cols.size(); ++j) last[j] = std::find(cols.begin() + j + 1, cols.end(), cols[j]) == cols.end();
      for (size_t i = 0; i < r.rows; ++i) {
        Value* row = r.data.data() + i * r.width();
        for (size_t j = 0; j < cols.size(); ++j) table.AddValue(last[j] ? std::move(row[cols[j]]) : row[cols[j]]);
      }
      return table;
    }
    for (size_t i = 0; i < r.rows; ++i) {
      std::vector<Value> row(r.Row(i), r.Row(i) + r.width());
      row.push_back(Value::Long(static_cast<int64_t>(w)));
      rows.push_back(std::move(row));
    }
  }
  std::unordered_map<size_t, std::vector<size_t>> index;
  for (const auto& row : rows) {
    OutRow key;
    for (const FindElem& f : q->find)
      if (f.kind != FindElem::Kind::kAggregate) key.keys.push_back(row[col_of(f.var)]);
    key.world = static_cast<size_t>(row.back().long_value());
    size_t h = 0;
    for (const Value& v : key.keys) h = h * 31 + v.Hash();
    if (has_pull) h = h * 31 + key.world;
    OutRow* target = nullptr;
    if (!bag) {
      for (size_t i : index[h]) {
        if (out[i].keys == key.keys && (!has_pull || out[i].world == key.world)) target = &out[i];
      }
    }
    if (!target) {
      index[h].push_back(out.size());
      out.push_back(std::move(key));
      target = &out.back();
    }
    if (aggregate) {
      size_t a = 0;
      target->bags.resize(q->find.size());
      for (const FindElem& f : q->find) {
        if (f.kind == FindElem::Kind::kAggregate) target->bags[a].push_back(row[col_of(f.var)]);
        ++a;
      }
    }
  }
  // Deterministic order when the caller pages through results.
  if (q->limit >= 0 || q->offset > 0) {
    std::sort(out.begin(), out.end(), [](const OutRow& a, const OutRow& b) {
      return std::lexicographical_compare(a.keys.begin(), a.keys.end(), b.keys.begin(), b.keys.end());
    });
    size_t from = std::min(out.size(), static_cast<size_t>(q->offset));
    size_t to = q->limit >= 0 ? std::min(out.size(), from + static_cast<size_t>(q->limit)) : out.size();
    out = std::vector<OutRow>(std::make_move_iterator(out.begin() + from),
                              std::make_move_iterator(out.begin() + to));
  }
  // Pull elements: one PullMany per element and world, so each pattern compiles once.
  std::map<size_t, std::vector<edn::Node>> pulled;  // find index → a node per row
  for (size_t i = 0, key = 0; i < q->find.size(); ++i) {
    const FindElem& f = q->find[i];
    if (f.kind == FindElem::Kind::kAggregate) continue;
    size_t k = key++;
    if (f.kind != FindElem::Kind::kPull) continue;
    std::vector<edn::Node>& cells = pulled[i];
    cells.resize(out.size());
    for (size_t w = 0; w < worlds.size(); ++w) {
      std::vector<Value> entities;
      std::vector<size_t> rows_at;
      for (size_t r = 0; r < out.size(); ++r) {
        if (out[r].world != w) continue;
        entities.push_back(out[r].keys[k]);
        rows_at.push_back(r);
      }
      if (entities.empty()) continue;
      auto s = worlds[w].sources.find(f.source);
      if (s == worlds[w].sources.end() || !s->second.is_db) {
        return ErrAt(f.pos, "pull: source " + f.source + " is not a database passed to the query");
      }
      const edn::Node* pattern = &f.pattern;
      if (f.pattern_var >= 0) {
        auto p = worlds[w].pull_patterns.find(f.pattern_var);
        if (p == worlds[w].pull_patterns.end()) {
          return ErrAt(f.pos, "pull pattern " + q->var_names[f.pattern_var] + " is not an :in input");
        }
        pattern = &p->second;
      }
      auto nodes = PullMany(s->second.db, *pattern, entities);
      if (!nodes.ok()) return nodes.status().WithContext(At(f.pos) + ": " + f.text);
      for (size_t j = 0; j < rows_at.size(); ++j) cells[rows_at[j]] = std::move((*nodes)[j]);
    }
  }
  QueryTable table = NewTable(*q, bag);
  table.Reserve(out.size());
  for (size_t row = 0; row < out.size(); ++row) {
    OutRow& r = out[row];
    size_t k = 0;
    for (size_t i = 0; i < q->find.size(); ++i) {
      const FindElem& f = q->find[i];
      if (f.kind == FindElem::Kind::kAggregate) {
        auto agg = RunAggregate(f.fn, f.params, std::move(r.bags[i]));
        if (!agg.ok()) return ErrAt(f.pos, f.text + ": " + agg.status().message());
        table.AddNode(std::move(*agg));
        continue;
      }
      Value& v = r.keys[k++];
      if (f.kind == FindElem::Kind::kPull) {
        table.AddNode(std::move(pulled[i][row]));
      } else {
        table.AddValue(std::move(v));
      }
    }
  }
  return table;
}

}  // namespace
}  // namespace query::internal

edn::Node ToEdn(QueryTable t) {
  using edn::Kind;
  using edn::Node;
  const size_t rows = t.rows();
  auto cell = [&](size_t row, size_t c) {
    return t.is_node(c) ? std::move(t.node(row, c)) : edn::FromValue(t.value(row, c));
  };
  auto row_node = [&](size_t row) {
    std::vector<Node> cells;
    cells.reserve(t.keys == QueryTable::Keys::kNone ? t.width() : 2 * t.width());
    for (size_t c = 0; c < t.width(); ++c) {
      if (t.keys != QueryTable::Keys::kNone) {
        const std::string& name = t.key_names[c];
        cells.push_back(t.keys == QueryTable::Keys::kKeys   ? Node::Keyword(name)
                        : t.keys == QueryTable::Keys::kStrs ? Node::String(name)
                                                            : Node::Symbol(name));
      }
      cells.push_back(cell(row, c));
    }
    return Node::Coll(t.keys == QueryTable::Keys::kNone ? Kind::kVector : Kind::kMap, std::move(cells));
  };
  switch (t.shape) {
    case QueryTable::Shape::kRelation: {
      std::vector<Node> items;
      items.reserve(rows);
      for (size_t r = 0; r < rows; ++r) items.push_back(row_node(r));
      return Node::Coll(t.as_vector ? Kind::kVector : Kind::kSet, std::move(items));
    }
    case QueryTable::Shape::kCollection: {
      std::vector<Node> items;
      items.reserve(rows);
      for (size_t r = 0; r < rows; ++r) items.push_back(cell(r, 0));
      return Node::Coll(Kind::kVector, std::move(items));
    }
    case QueryTable::Shape::kTuple:
      return rows == 0 ? Node::Nil() : row_node(0);
    case QueryTable::Shape::kScalar:
      return rows == 0 ? Node::Nil() : cell(0, 0);
  }
  return Node::Nil();
}

Result<QueryTable> QTable(std::string_view text, const std::vector<QueryInput>& inputs,
                          const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(auto q, query::internal::Cache().Get(text));
  return query::internal::Execute(q, inputs, options, nullptr);
}

Result<edn::Node> Q(std::string_view text, const std::vector<QueryInput>& inputs,
                    const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(QueryTable t, QTable(text, inputs, options));
  return ToEdn(std::move(t));
}

Result<edn::Node> Q(const edn::Node& form, const std::vector<QueryInput>& inputs,
                    const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(auto q, query::ParseQuery(form));
  DL_ASSIGN_OR_RETURN(QueryTable t, query::internal::Execute(q, inputs, options, nullptr));
  return ToEdn(std::move(t));
}

Result<std::string> Explain(std::string_view text, const std::vector<QueryInput>& inputs,
                            const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(auto q, query::internal::Cache().Get(text));
  std::vector<std::string> lines;
  DL_ASSIGN_OR_RETURN(QueryTable table, query::internal::Execute(q, inputs, options, &lines));
  edn::Node result = ToEdn(std::move(table));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += lines[i] + "\n";
  size_t n = result.IsColl() ? result.items.size() : (result.is(edn::Kind::kNil) ? 0 : 1);
  out += "result: " + std::to_string(n) + (n == 1 ? " row\n" : " rows\n");
  return out;
}

}  // namespace datalith
