// Dependency analysis (deps.h): walks the clauses, the reachable rules and the pull
// expressions of a parsed query and collects, per source, the datoms that can change
// its result.
#include "query/deps.h"

#include <algorithm>

#include "query/exec.h"

// Runs once per subscription: the WASM build compiles it for size (the npm package's
// size budget, docs/wasm.md).
#ifdef __EMSCRIPTEN__
#pragma clang attribute push(__attribute__((minsize)), apply_to = function)
#endif

namespace datalith::query {

const char* const kSchemaAttrs[5] = {"db/ident", "db/valueType", "db/cardinality", "db/unique",
                                     "db/isComponent"};

namespace {

// Values that equal the datom value as the JS API reports it (deps.h).
bool Narrows(const Value& v) {
  switch (v.type()) {
    case ValueType::kBoolean:
    case ValueType::kLong:
    case ValueType::kDouble:
    case ValueType::kString:
    case ValueType::kInstant:
    case ValueType::kUuid: return true;
    default: return false;
  }
}

bool SameValue(const Value& pattern, const Value& datom) {
  Value v = internal::QueryValue(datom);  // a ref as its entity id
  if (pattern.is_number() && v.is_number() && pattern.type() != v.type()) {
    return pattern.AsDouble() == v.AsDouble();
  }
  return pattern == v;
}

// `ns/_name` → `ns/name` (a reverse attribute), else "".
std::string Forward(const std::string& ident) {
  size_t slash = ident.find('/');
  size_t name = slash == std::string::npos ? 0 : slash + 1;
  if (ident.compare(name, 1, "_") != 0) return {};
  return ident.substr(0, name) + ident.substr(name + 1);
}

// An entity id constant, else 0 (any).
EntityId EntityIdOf(const Term& t) {
  const bool id = t.is_const() && t.value.type() == ValueType::kLong && t.value.long_value() > 0;
  return id ? static_cast<EntityId>(t.value.long_value()) : 0;
}

void BindingSources(const Binding& b, std::vector<std::string>* out) {
  if (b.kind == Binding::Kind::kSource) out->push_back(b.source);
  for (const Binding& item : b.items) BindingSources(item, out);
}

class Analyzer {
 public:
  Analyzer(const Query& q, const IsComponent& is_component) : q_(q), is_component_(is_component) {}

  Result<QueryDeps> Run() {
    DL_RETURN_IF_ERROR(Clauses(q_.where, "$"));
    for (const FindElem& f : q_.find) {
      if (f.kind != FindElem::Kind::kPull) continue;
      if (f.pattern_var >= 0) {
        Add(f.source);  // the pattern is an input: any attribute
      } else {
        Pull(f.pattern, f.source);
      }
    }
    for (auto& [source, patterns] : deps_.sources) {
      for (const char* attr : kSchemaAttrs) patterns.push_back(Pattern(attr));
      Simplify(&patterns);
    }
    for (const Binding& b : q_.in) BindingSources(b, &deps_.in.emplace_back());
    return std::move(deps_);
  }

 private:
  static DatomPattern Pattern(std::string attr, EntityId e = 0, Value v = {}) {
    DatomPattern p;
    p.attr = std::move(attr);
    p.e = e;
    p.v = std::move(v);
    return p;
  }
  // Datoms of `source` with these parts (defaults: any).
  void Add(const std::string& source, std::string attr = {}, EntityId e = 0, Value v = {}) {
    deps_.sources[source].push_back(Pattern(std::move(attr), e, std::move(v)));
  }

  Status Clauses(const std::vector<Clause>& clauses, const std::string& source) {
    for (const Clause& c : clauses) DL_RETURN_IF_ERROR(One(c, source));
    return Status::Ok();
  }

  // `source`: what a clause without a source reads (the enclosing `($src not ...)`,
  // `($src or ...)` or rule call's source, else $).
  Status One(const Clause& c, const std::string& source) {
    const std::string& own = c.source.empty() ? source : c.source;
    switch (c.kind) {
      case Clause::Kind::kPattern: Data(c, own); return Status::Ok();
      case Clause::Kind::kPredicate:
      case Clause::Kind::kFunction: Function(c); return Status::Ok();
      case Clause::Kind::kRule: return Rule(c, own);
      case Clause::Kind::kNot:
      case Clause::Kind::kOr:
      case Clause::Kind::kAnd: return Clauses(c.children, own);
    }
    return Status::Ok();
  }

  // [e a v ...]: the attribute if it is a keyword, the entity if it is an id, the
  // value if it narrows.
  void Data(const Clause& c, const std::string& source) {
    const std::vector<Term>& t = c.terms;
    const bool attr = t.size() > 1 && t[1].is_const() && t[1].value.type() == ValueType::kKeyword;
    const bool value = t.size() > 2 && t[2].is_const() && Narrows(t[2].value);
    Add(source, attr ? t[1].value.str() : std::string(), EntityIdOf(t[0]), value ? t[2].value : Value());
  }

  // get-else, get-some and missing? read their source's attribute arguments; other
  // functions read no database.
  void Function(const Clause& c) {
    const bool get_else = c.fn == "get-else", get_some = c.fn == "get-some", missing = c.fn == "missing?";
    if (!get_else && !get_some && !missing) return;
    const std::vector<Term>& t = c.terms;
    if (t.size() < 3 || !t[0].is_const() || t[0].value.type() != ValueType::kSymbol) return;  // fails when run
    const std::string& source = t[0].value.str();
    const EntityId e = EntityIdOf(t[1]);
    for (size_t i = 2; i < (get_some ? t.size() : 3); ++i) {
      const bool keyword = t[i].is_const() && t[i].value.type() == ValueType::kKeyword;
      Add(source, keyword ? t[i].value.str() : std::string(), e);
      // missing? reads :ns/_name as the reverse of :ns/name unless the schema has it.
      if (std::string forward = keyword ? Forward(t[i].value.str()) : ""; missing && !forward.empty()) {
        Add(source, std::move(forward));
      }
    }
  }

  // A rule call: every definition's body, once per rule and source.
  Status Rule(const Clause& c, const std::string& source) {
    std::string key = source + '\x02' + c.fn;
    if (std::find(expanded_.begin(), expanded_.end(), key) != expanded_.end()) return Status::Ok();
    expanded_.push_back(std::move(key));
    auto defs = q_.rules.find(c.fn);
    if (defs == q_.rules.end()) {
      return internal::ErrAt(c.pos, "unknown rule `" + c.fn + "` (pass rules as % in :in)");
    }
    for (const query::Rule& def : defs->second) DL_RETURN_IF_ERROR(Clauses(def.body, source));
    return Status::Ok();
  }

  // A pull pattern's attributes, nested ones included; `*` reads any attribute. A
  // malformed pattern fails when the query runs: here it reads anything.
  void Pull(const edn::Node& pattern, const std::string& source) {
    if (!pattern.is(edn::Kind::kVector)) return Add(source);
    for (const edn::Node& item : pattern.items) {
      if (item.IsSymbol("*") || (item.is(edn::Kind::kString) && item.text == "*")) {
        Add(source);
      } else if (item.is(edn::Kind::kMap)) {
        for (size_t i = 0; i + 1 < item.items.size(); i += 2) {
          const edn::Node& sub = item.items[i + 1];
          PullAttr(item.items[i], source, /*has_sub=*/true);
          if (sub.is(edn::Kind::kVector)) Pull(sub, source);  // else `...` or a depth: this pattern again
        }
      } else {
        PullAttr(item, source, /*has_sub=*/false);
      }
    }
  }

  // :attr, :ns/_attr, (limit :attr n), (default :attr v), [:attr :as x ...].
  void PullAttr(const edn::Node& spec, const std::string& source, bool has_sub) {
    const edn::Node* name = &spec;
    if ((spec.is(edn::Kind::kList) || spec.is(edn::Kind::kVector)) && !spec.items.empty()) {
      const bool call = spec.items[0].IsSymbol("limit") || spec.items[0].IsSymbol("default");
      name = call && spec.items.size() > 1 ? &spec.items[1] : &spec.items[0];
    }
    if (!name->is(edn::Kind::kKeyword)) return Add(source);
    if (name->text == "db/id") return;
    if (std::string forward = Forward(name->text); !forward.empty()) return Add(source, std::move(forward));
    // A component without a sub-pattern is pulled with `*`.
    if (!has_sub && is_component_ && is_component_(source, name->text)) return Add(source);
    Add(source, name->text);
  }

  // Drops every pattern another one covers (the first of equal ones stays).
  static void Simplify(std::vector<DatomPattern>* patterns) {
    std::vector<DatomPattern> kept;
    for (size_t i = 0; i < patterns->size(); ++i) {
      const DatomPattern& p = (*patterns)[i];
      bool covered = false;
      for (size_t j = 0; j < patterns->size() && !covered; ++j) {
        const DatomPattern& o = (*patterns)[j];
        covered = j != i && o.Covers(p) && (!p.Covers(o) || j < i);
      }
      if (!covered) kept.push_back(p);
    }
    *patterns = std::move(kept);
  }

  const Query& q_;
  const IsComponent& is_component_;
  QueryDeps deps_;
  std::vector<std::string> expanded_;  // source \x02 rule name
};

Result<std::shared_ptr<Query>> ParseText(std::string_view query) {
  DL_ASSIGN_OR_RETURN(edn::Node form, edn::ReadOne(query));
  return ParseQuery(form);
}

}  // namespace

bool DatomPattern::Covers(const DatomPattern& o) const {
  return (attr.empty() || attr == o.attr) && (!e || e == o.e) && (v.is_nil() || (!o.v.is_nil() && SameValue(v, o.v)));
}

bool DatomPattern::Matches(std::string_view attr_ident, EntityId datom_e, const Value& datom_v) const {
  return (attr.empty() || attr == attr_ident) && (!e || e == datom_e) && (v.is_nil() || SameValue(v, datom_v));
}

bool QueryDeps::Matches(const std::string& source, std::string_view attr_ident, EntityId e,
                        const Value& v) const {
  auto it = sources.find(source);
  if (it == sources.end()) return false;
  for (const DatomPattern& p : it->second)
    if (p.Matches(attr_ident, e, v)) return true;
  return false;
}

Result<QueryDeps> Dependencies(const Query& q, const IsComponent& is_component) {
  return Analyzer(q, is_component).Run();
}

Result<QueryDeps> Dependencies(std::string_view query, std::string_view rules) {
  DL_ASSIGN_OR_RETURN(std::shared_ptr<Query> q, ParseText(query));
  if (!rules.empty()) {
    DL_ASSIGN_OR_RETURN(edn::Node form, edn::ReadOne(rules));
    DL_RETURN_IF_ERROR(ParseRules(form, q.get()));
  }
  return Dependencies(*q, nullptr);
}

Result<QueryDeps> Dependencies(std::string_view query, const std::vector<QueryInput>& inputs) {
  DL_ASSIGN_OR_RETURN(std::shared_ptr<Query> q, ParseText(query));
  DL_ASSIGN_OR_RETURN(std::vector<internal::World> worlds, internal::BindInputs(*q, q.get(), inputs));
  auto is_component = [&worlds](const std::string& source, const std::string& attr) {
    for (const internal::World& w : worlds) {
      auto s = w.sources.find(source);
      if (s == w.sources.end() || !s->second.is_db) continue;
      const Attribute* a = s->second.db.schema().AttrByIdent(attr);
      if (a && a->component) return true;
    }
    return false;
  };
  return Dependencies(*q, is_component);
}

}  // namespace datalith::query

#ifdef __EMSCRIPTEN__
#pragma clang attribute pop
#endif
