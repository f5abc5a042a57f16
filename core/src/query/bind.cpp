// Input binding: QueryInput, and the :in bindings turned into worlds (one per assignment
// of database sources) holding the sources and the relations of the bound inputs.
#include <algorithm>

#include "query/exec.h"

namespace datalith {

QueryInput QueryInput::Database(Db d) {
  QueryInput in;
  in.kind = Kind::kDatabase;
  in.db = std::move(d);
  return in;
}

QueryInput QueryInput::Data(edn::Node n) {
  QueryInput in;
  in.kind = Kind::kData;
  in.data = std::move(n);
  return in;
}

QueryInput QueryInput::List(std::vector<QueryInput> items) {
  QueryInput in;
  in.kind = Kind::kList;
  in.items = std::move(items);
  return in;
}

Result<QueryInput> QueryInput::Edn(std::string_view text) {
  DL_ASSIGN_OR_RETURN(edn::Node n, edn::ReadOne(text));
  return Data(std::move(n));
}

namespace query::internal {
namespace {

// Converts input data to a Value (collections become tuples).
Result<Value> DataValue(const edn::Node& n) {
  if (n.kind == edn::Kind::kList || n.kind == edn::Kind::kSet) {
    std::vector<Value> items;
    for (const edn::Node& item : n.items) {
      DL_ASSIGN_OR_RETURN(Value v, DataValue(item));
      items.push_back(std::move(v));
    }
    return Value::Tuple(std::move(items));
  }
  if (n.kind == edn::Kind::kVector) {
    std::vector<Value> items;
    for (const edn::Node& item : n.items) {
      DL_ASSIGN_OR_RETURN(Value v, DataValue(item));
      items.push_back(std::move(v));
    }
    return Value::Tuple(std::move(items));
  }
  return edn::ToValue(n);
}

// A row of a binding: values of its variables and databases of its sources.
struct BoundRow {
  std::vector<Value> values;
  std::vector<const QueryInput*> dbs;
};

Status BindInput(const Binding& b, const QueryInput& in, const edn::Node* node,
                 std::vector<BoundRow>* rows, const std::string& where) {
  // `node` walks inside kData inputs; `in` is the enclosing input.
  auto items = [&](std::vector<std::pair<const QueryInput*, const edn::Node*>>* out) -> bool {
    if (node) {
      if (!(node->kind == edn::Kind::kVector || node->kind == edn::Kind::kList ||
            node->kind == edn::Kind::kSet)) {
        return false;
      }
      for (const edn::Node& n : node->items) out->push_back({&in, &n});
      return true;
    }
    if (in.kind != QueryInput::Kind::kList) return false;
    for (const QueryInput& i : in.items) {
      out->push_back({&i, i.kind == QueryInput::Kind::kData ? &i.data : nullptr});
    }
    return true;
  };
  switch (b.kind) {
    case Binding::Kind::kBlank: rows->push_back({}); return Status::Ok();
    case Binding::Kind::kVar: {
      if (!node) return ErrAt(b.pos, where + ": a database cannot bind to a variable (use $name)");
      DL_ASSIGN_OR_RETURN(Value v, DataValue(*node));
      rows->push_back({{std::move(v)}, {}});
      return Status::Ok();
    }
    case Binding::Kind::kSource:
      // Inside EDN data there is no input of its own to bind (only the enclosing one):
      // a source in a tuple or collection binding must be given as an input of its own.
      if (node && in.kind == QueryInput::Kind::kData && node != &in.data) {
        return ErrAt(b.pos, where + ": " + b.source + " is bound to EDN data inside another " +
                                "value; pass databases or collections as inputs of their own");
      }
      rows->push_back({{}, {&in}});
      return Status::Ok();
    case Binding::Kind::kRules: return ErrAt(b.pos, "% must be a top-level :in binding");
    case Binding::Kind::kTuple: {
      std::vector<std::pair<const QueryInput*, const edn::Node*>> elems;
      if (!items(&elems) || elems.size() < b.items.size()) {
        return ErrAt(b.pos, where + ": expected a tuple of " + std::to_string(b.items.size()));
      }
      std::vector<BoundRow> acc{{}};
      for (size_t i = 0; i < b.items.size(); ++i) {
        std::vector<BoundRow> part, next;
        DL_RETURN_IF_ERROR(BindInput(b.items[i], *elems[i].first, elems[i].second, &part, where));
        for (const BoundRow& a : acc)
          for (const BoundRow& p : part) {
            BoundRow r = a;
            r.values.insert(r.values.end(), p.values.begin(), p.values.end());
            r.dbs.insert(r.dbs.end(), p.dbs.begin(), p.dbs.end());
            next.push_back(std::move(r));
          }
        acc = std::move(next);
      }
      rows->insert(rows->end(), acc.begin(), acc.end());
      return Status::Ok();
    }
    case Binding::Kind::kCollection: {
      std::vector<std::pair<const QueryInput*, const edn::Node*>> elems;
      if (!items(&elems)) return ErrAt(b.pos, where + ": expected a collection");
      for (const auto& [i, n] : elems) DL_RETURN_IF_ERROR(BindInput(b.items[0], *i, n, rows, where));
      return Status::Ok();
    }
  }
  return Status::Ok();
}

void BindingSources(const Binding& b, std::vector<std::string>* out) {
  if (b.kind == Binding::Kind::kSource) out->push_back(b.source);
  for (const Binding& item : b.items) BindingSources(item, out);
}

Result<Source> MakeSource(const QueryInput& in, const std::string& name) {
  Source s;
  if (in.kind == QueryInput::Kind::kDatabase) {
    if (!in.db.valid()) return Status::Invalid("source " + name + " is not an open database");
    s.is_db = true;
    s.db = in.db;
    return s;
  }
  if (in.kind != QueryInput::Kind::kData) {
    return Status::Invalid("source " + name + " must be a database or a collection of tuples");
  }
  DL_ASSIGN_OR_RETURN(Value v, DataValue(in.data));
  if (v.type() != ValueType::kTuple) {
    return Status::Invalid("source " + name + " must be a database or a collection of tuples, got " +
                           v.ToString());
  }
  s.tuples = v.tuple();
  return s;
}

}  // namespace

Result<std::vector<World>> BindInputs(const Query& q, Query* rules_into,
                                      const std::vector<QueryInput>& inputs) {
  if (inputs.size() != q.in.size()) {
    return Status::Invalid("the query takes " + std::to_string(q.in.size()) +
                           (q.in.size() == 1 ? " input" : " inputs") + " (:in), got " +
                           std::to_string(inputs.size()));
  }
  std::vector<World> worlds(1);
  for (size_t i = 0; i < q.in.size(); ++i) {
    const Binding& b = q.in[i];
    const QueryInput& in = inputs[i];
    std::string where = "input " + std::to_string(i + 1);
    if (b.kind == Binding::Kind::kRules) {
      if (in.kind != QueryInput::Kind::kData) return Status::Invalid(where + " (%): rules must be EDN data");
      DL_RETURN_IF_ERROR(ParseRules(in.data, rules_into));
      continue;
    }
    if (b.kind == Binding::Kind::kSource) {
      DL_ASSIGN_OR_RETURN(Source s, MakeSource(in, b.source));
      for (World& w : worlds) w.sources[b.source] = s;
      continue;
    }
    bool pattern_input = false;
    for (const FindElem& f : q.find) pattern_input |= b.kind == Binding::Kind::kVar && f.pattern_var == b.var;
    if (pattern_input) {
      if (in.kind != QueryInput::Kind::kData) return Status::Invalid(where + ": a pull pattern must be EDN data");
      for (World& w : worlds) w.pull_patterns[b.var] = in.data;
      continue;
    }
    std::vector<BoundRow> rows;
    DL_RETURN_IF_ERROR(BindInput(b, in, in.kind == QueryInput::Kind::kData ? &in.data : nullptr,
                                 &rows, where));
    std::vector<VarId> vars;
    BindingVars(b, &vars);
    std::vector<std::string> srcs;
    BindingSources(b, &srcs);
    // Group rows by their databases: each group is a world of its own.
    std::vector<std::pair<std::vector<const QueryInput*>, Rel>> groups;
    for (BoundRow& r : rows) {
      auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == r.dbs; });
      if (g == groups.end()) {
        groups.push_back({r.dbs, Rel()});
        g = groups.end() - 1;
        g->second.cols = vars;
      }
      if (vars.empty()) g->second.rows = 1;
      else g->second.Add(r.values.data());
    }
    if (groups.empty()) {  // an empty collection: no rows at all
      Rel none;
      none.cols = vars;
      groups.push_back({std::vector<const QueryInput*>(srcs.size(), nullptr), none});
    }
    // Each group's sources and rows, prepared once, then combined with every world.
    std::vector<Sources> group_sources(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      const auto& dbs = groups[g].first;
      for (size_t k = 0; k < srcs.size(); ++k) {
        if (!dbs[k]) continue;
        DL_ASSIGN_OR_RETURN(group_sources[g][srcs[k]], MakeSource(*dbs[k], srcs[k]));
      }
      Dedup(&groups[g].second);
    }
    std::vector<World> next;
    for (const World& w : worlds) {
      for (size_t g = 0; g < groups.size(); ++g) {
        World nw = w;
        for (const auto& [name, src] : group_sources[g]) nw.sources[name] = src;
        nw.rels.push_back(groups[g].second);
        next.push_back(std::move(nw));
      }
    }
    worlds = std::move(next);
  }
  return worlds;
}

}  // namespace query::internal
}  // namespace datalith
