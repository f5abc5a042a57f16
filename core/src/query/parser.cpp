// EDN → Query. Every error names the offending form and its line/column.
#include <algorithm>
#include <set>

#include "query/ast.h"
#include "query/builtin_call.h"

namespace datalith::query {

namespace {

Status Err(const edn::Node& at, const std::string& msg) {
  return Status::Invalid(at.Where() + ": " + msg);
}

bool IsVarSym(const edn::Node& n) {
  return n.kind == edn::Kind::kSymbol && n.text.size() > 1 && n.text[0] == '?';
}
bool IsBlank(const edn::Node& n) { return n.kind == edn::Kind::kSymbol && n.text == "_"; }
bool IsSourceSym(const edn::Node& n) {
  return n.kind == edn::Kind::kSymbol && !n.text.empty() && n.text[0] == '$';
}
bool IsRulesSym(const edn::Node& n) { return n.kind == edn::Kind::kSymbol && n.text == "%"; }

void AddVar(std::vector<VarId>* vars, VarId v) {
  if (std::find(vars->begin(), vars->end(), v) == vars->end()) vars->push_back(v);
}

void AddBindingVars(const Binding& b, std::vector<VarId>* vars) {
  if (b.kind == Binding::Kind::kVar) AddVar(vars, b.var);
  for (const Binding& item : b.items) AddBindingVars(item, vars);
}

class Parser {
 public:
  explicit Parser(Query* q) : q_(q) {}

  Result<Term> ParseTerm(const edn::Node& n) {
    Term t;
    t.pos = n.pos;
    if (IsBlank(n)) return t;
    if (IsVarSym(n)) {
      t.kind = Term::Kind::kVar;
      t.var = q_->Var(n.text);
      return t;
    }
    if (n.kind == edn::Kind::kSymbol) {
      return Err(n, "unexpected symbol `" + n.text + "` (variables start with ?)");
    }
    auto v = edn::ToValue(n);
    if (!v.ok()) return v.status();  // it names the position already
    t.kind = Term::Kind::kConst;
    t.value = std::move(*v);
    return t;
  }

  // A set or vector literal as a function argument: a constant tuple, a set's items
  // sorted and distinct as `(set ...)` makes them. Its items are constants: a variable
  // inside is not bound (write `(vector ?a ?b)` for that).
  Result<Value> ParseCollectionArg(const edn::Node& n) {
    std::vector<Value> items;
    items.reserve(n.items.size());
    for (const edn::Node& item : n.items) {
      if (IsVarSym(item) || IsBlank(item)) {
        return Err(item, "a collection literal holds constants; `" + item.text +
                             "` is not bound there (build it with (vector ...) or (set ...))");
      }
      if (item.kind == edn::Kind::kSet || item.kind == edn::Kind::kVector) {
        DL_ASSIGN_OR_RETURN(Value v, ParseCollectionArg(item));
        items.push_back(std::move(v));
      } else {
        DL_ASSIGN_OR_RETURN(Value v, edn::ToValue(item));
        items.push_back(std::move(v));
      }
    }
    if (n.kind == edn::Kind::kSet) builtin::SortDistinct(&items);
    return Value::Tuple(std::move(items));
  }

  Result<Binding> ParseBinding(const edn::Node& n, bool allow_sources) {
    Binding b;
    b.pos = n.pos;
    if (IsBlank(n)) return b;
    if (IsVarSym(n)) {
      b.kind = Binding::Kind::kVar;
      b.var = q_->Var(n.text);
      return b;
    }
    if (IsSourceSym(n) && allow_sources) {
      b.kind = Binding::Kind::kSource;
      b.source = n.text;
      return b;
    }
    if (IsRulesSym(n) && allow_sources) {
      b.kind = Binding::Kind::kRules;
      return b;
    }
    if (n.kind == edn::Kind::kVector && !n.items.empty()) {
      if (n.items.size() == 2 && n.items[1].IsSymbol("...")) {
        b.kind = Binding::Kind::kCollection;
        DL_ASSIGN_OR_RETURN(Binding inner, ParseBinding(n.items[0], allow_sources));
        b.items.push_back(std::move(inner));
        return b;
      }
      if (n.items.size() == 1 && n.items[0].kind == edn::Kind::kVector) {
        // [[?a ?b]]: a relation, i.e. a collection of tuples.
        b.kind = Binding::Kind::kCollection;
        DL_ASSIGN_OR_RETURN(Binding inner, ParseBinding(n.items[0], allow_sources));
        b.items.push_back(std::move(inner));
        return b;
      }
      b.kind = Binding::Kind::kTuple;
      for (const edn::Node& item : n.items) {
        if (item.IsSymbol("...")) return Err(item, "`...` must follow exactly one binding");
        DL_ASSIGN_OR_RETURN(Binding inner, ParseBinding(item, allow_sources));
        b.items.push_back(std::move(inner));
      }
      return b;
    }
    return Err(n, "invalid binding form " + edn::Write(n) +
                      " (expected ?var, _, [?a ?b], [?x ...] or [[?a ?b]])");
  }

  Status ParseClauses(const edn::Node& parent, size_t from, std::vector<Clause>* out) {
    for (size_t i = from; i < parent.items.size(); ++i) {
      Clause c;
      DL_RETURN_IF_ERROR(ParseClause(parent.items[i], &c));
      out->push_back(std::move(c));
    }
    return Status::Ok();
  }

  Status ParseClause(const edn::Node& n, Clause* c) {
    c->pos = n.pos;
    c->text = edn::Write(n);
    if (n.kind == edn::Kind::kVector) {
      if (n.items.empty()) return Err(n, "empty clause []");
      const edn::Node& head = n.items[0];
      if (head.kind == edn::Kind::kList) return ParseFnClause(n, c);
      return ParsePattern(n, c);
    }
    if (n.kind == edn::Kind::kList) {
      if (n.items.empty()) return Err(n, "empty clause ()");
      size_t k = 0;
      if (IsSourceSym(n.items[0])) {
        c->source = n.items[0].text;
        k = 1;
        if (n.items.size() < 2) return Err(n, "a source must be followed by a clause");
      }
      const edn::Node& op = n.items[k];
      if (op.kind != edn::Kind::kSymbol) {
        return Err(op, "expected not, not-join, or, or-join, and or a rule name, got " +
                           edn::Write(op));
      }
      if (op.text == "not" || op.text == "not-join") return ParseNot(n, k, c);
      if (op.text == "or" || op.text == "or-join") return ParseOr(n, k, c);
      if (op.text == "and") {
        c->kind = Clause::Kind::kAnd;
        if (n.items.size() == k + 1) return Err(n, "(and) needs at least one clause");
        DL_RETURN_IF_ERROR(ParseClauses(n, k + 1, &c->children));
        for (const Clause& ch : c->children)
          for (VarId v : ch.vars) AddVar(&c->vars, v);
        return Status::Ok();
      }
      // A rule call.
      if (IsVarSym(op)) return Err(op, "a rule name cannot be a variable");
      c->kind = Clause::Kind::kRule;
      c->fn = op.text;
      for (size_t i = k + 1; i < n.items.size(); ++i) {
        DL_ASSIGN_OR_RETURN(Term t, ParseTerm(n.items[i]));
        if (t.is_var()) AddVar(&c->vars, t.var);
        c->terms.push_back(std::move(t));
      }
      return Status::Ok();
    }
    return Err(n, "a clause must be a vector [...] or a list (...), got " + edn::Write(n));
  }

  Status ParsePattern(const edn::Node& n, Clause* c) {
    c->kind = Clause::Kind::kPattern;
    size_t k = 0;
    if (IsSourceSym(n.items[0])) {
      c->source = n.items[0].text;
      k = 1;
    }
    size_t slots = n.items.size() - k;
    if (slots == 0) return Err(n, "a data pattern needs at least an entity");
    if (slots > 5) return Err(n, "a data pattern has at most 5 slots [e a v tx added]");
    for (size_t i = k; i < n.items.size(); ++i) {
      DL_ASSIGN_OR_RETURN(Term t, ParseTerm(n.items[i]));
      if (t.is_var()) AddVar(&c->vars, t.var);
      c->terms.push_back(std::move(t));
    }
    return Status::Ok();
  }

  Status ParseFnClause(const edn::Node& n, Clause* c) {
    const edn::Node& call = n.items[0];
    if (call.items.empty() || call.items[0].kind != edn::Kind::kSymbol) {
      return Err(call, "expected a function call (fn args...)");
    }
    c->fn = call.items[0].text;
    for (size_t i = 1; i < call.items.size(); ++i) {
      const edn::Node& a = call.items[i];
      Term t;
      if (IsSourceSym(a)) {
        // get-else, get-some, missing? take a source: keep it as a symbol constant.
        t.kind = Term::Kind::kConst;
        t.value = Value::Symbol(a.text);
        t.pos = a.pos;
      } else if (a.kind == edn::Kind::kSet || a.kind == edn::Kind::kVector) {
        DL_ASSIGN_OR_RETURN(t.value, ParseCollectionArg(a));
        t.kind = Term::Kind::kConst;
        t.pos = a.pos;
      } else if (a.kind == edn::Kind::kMap) {
        return Err(a, "a map literal cannot be a function argument: Datalith values have no "
                      "maps (a vector of [key value] pairs or an :in binding can stand in)");
      } else {
        DL_ASSIGN_OR_RETURN(t, ParseTerm(a));
      }
      if (t.is_var()) AddVar(&c->vars, t.var);
      c->terms.push_back(std::move(t));
    }
    if (n.items.size() == 1) {
      c->kind = Clause::Kind::kPredicate;
      return Status::Ok();
    }
    if (n.items.size() > 2) return Err(n, "a function clause is [(fn args...) binding]");
    c->kind = Clause::Kind::kFunction;
    DL_ASSIGN_OR_RETURN(c->binding, ParseBinding(n.items[1], false));
    AddBindingVars(c->binding, &c->vars);
    return Status::Ok();
  }

  // Parses [?a ?b] (or [[?a] ?b] for rule-style required vars) into `vars`.
  Status ParseVarList(const edn::Node& n, std::vector<VarId>* vars, size_t* required) {
    if (n.kind != edn::Kind::kVector) return Err(n, "expected a vector of variables");
    for (size_t i = 0; i < n.items.size(); ++i) {
      const edn::Node& v = n.items[i];
      if (i == 0 && v.kind == edn::Kind::kVector && required) {
        for (const edn::Node& r : v.items) {
          if (!IsVarSym(r)) return Err(r, "expected a variable, got " + edn::Write(r));
          vars->push_back(q_->Var(r.text));
        }
        *required = v.items.size();
        continue;
      }
      if (!IsVarSym(v)) return Err(v, "expected a variable, got " + edn::Write(v));
      vars->push_back(q_->Var(v.text));
    }
    return Status::Ok();
  }

  Status ParseNot(const edn::Node& n, size_t k, Clause* c) {
    c->kind = Clause::Kind::kNot;
    size_t body = k + 1;
    if (n.items[k].text == "not-join") {
      if (n.items.size() <= k + 1) return Err(n, "not-join needs [vars] and clauses");
      DL_RETURN_IF_ERROR(ParseVarList(n.items[k + 1], &c->join_vars, nullptr));
      c->explicit_join = true;
      body = k + 2;
    }
    if (n.items.size() <= body) return Err(n, "(" + n.items[k].text + ") needs a clause");
    DL_RETURN_IF_ERROR(ParseClauses(n, body, &c->children));
    if (!c->explicit_join) {
      for (const Clause& ch : c->children)
        for (VarId v : ch.vars) AddVar(&c->join_vars, v);
    }
    c->vars = c->join_vars;
    return Status::Ok();
  }

  Status ParseOr(const edn::Node& n, size_t k, Clause* c) {
    c->kind = Clause::Kind::kOr;
    size_t body = k + 1;
    if (n.items[k].text == "or-join") {
      if (n.items.size() <= k + 1) return Err(n, "or-join needs [vars] and clauses");
      size_t required = 0;
      DL_RETURN_IF_ERROR(ParseVarList(n.items[k + 1], &c->join_vars, &required));
      c->explicit_join = true;
      body = k + 2;
    }
    if (n.items.size() <= body) return Err(n, "(" + n.items[k].text + ") needs a clause");
    for (size_t i = body; i < n.items.size(); ++i) {
      Clause branch;
      DL_RETURN_IF_ERROR(ParseClause(n.items[i], &branch));
      if (branch.kind != Clause::Kind::kAnd) {
        Clause wrap;
        wrap.kind = Clause::Kind::kAnd;
        wrap.pos = branch.pos;
        wrap.text = branch.text;
        wrap.vars = branch.vars;
        wrap.children.push_back(std::move(branch));
        branch = std::move(wrap);
      }
      c->children.push_back(std::move(branch));
    }
    if (!c->explicit_join) {
      // The variables of every branch; each branch must bind those not bound before
      // the `or` runs (checked then: variables bound by :in or earlier clauses count).
      for (const Clause& branch : c->children)
        for (VarId v : branch.vars) AddVar(&c->join_vars, v);
    }
    c->vars = c->join_vars;
    return Status::Ok();
  }

  Status ParseFind(const edn::Node& find_list, const edn::Node& at) {
    const auto& items = find_list.items;
    if (items.empty()) return Err(at, ":find needs at least one element");
    // Shapes: ?a ?b (relation), [?a ...] (collection), [?a ?b] (tuple), ?a . (scalar)
    std::vector<const edn::Node*> elems;
    if (items.size() == 1 && items[0].kind == edn::Kind::kVector) {
      const edn::Node& v = items[0];
      if (v.items.size() == 2 && v.items[1].IsSymbol("...")) {
        q_->shape = Query::Shape::kCollection;
        elems.push_back(&v.items[0]);
      } else {
        if (v.items.empty()) return Err(v, "empty tuple find spec []");
        q_->shape = Query::Shape::kTuple;
        for (const edn::Node& e : v.items) elems.push_back(&e);
      }
    } else if (items.size() == 2 && items[1].IsSymbol(".")) {
      q_->shape = Query::Shape::kScalar;
      elems.push_back(&items[0]);
    } else {
      for (const edn::Node& e : items) {
        if (e.IsSymbol(".") || e.IsSymbol("..."))
          return Err(e, "misplaced `" + e.text + "` in :find");
        elems.push_back(&e);
      }
    }
    for (const edn::Node* e : elems) {
      FindElem f;
      f.pos = e->pos;
      f.text = edn::Write(*e);
      if (IsVarSym(*e)) {
        f.var = q_->Var(e->text);
      } else if (e->kind == edn::Kind::kList && !e->items.empty() &&
                 e->items[0].kind == edn::Kind::kSymbol) {
        const auto& li = e->items;
        if (li[0].text == "pull") {
          f.kind = FindElem::Kind::kPull;
          size_t k = 1;
          if (li.size() == 4 && IsSourceSym(li[1])) {
            f.source = li[1].text;
            k = 2;
          }
          if (li.size() != k + 2 || !IsVarSym(li[k])) {
            return Err(*e, "expected (pull ?e pattern) or (pull $src ?e pattern)");
          }
          f.var = q_->Var(li[k].text);
          if (IsVarSym(li[k + 1])) {
            f.pattern_var = q_->Var(li[k + 1].text);
          } else {
            f.pattern = li[k + 1];
          }
        } else {
          f.kind = FindElem::Kind::kAggregate;
          f.fn = li[0].text;
          if (li.size() < 2 || !IsVarSym(li.back())) {
            return Err(*e, "aggregate (" + f.fn + " ...) must end with a variable");
          }
          for (size_t i = 1; i + 1 < li.size(); ++i) {
            auto v = edn::ToValue(li[i]);
            if (!v.ok() || IsVarSym(li[i])) {
              return Err(li[i], "aggregate parameters must be constants");
            }
            f.params.push_back(*v);
          }
          f.var = q_->Var(li.back().text);
        }
      } else {
        return Err(*e, "invalid :find element " + edn::Write(*e) +
                           " (expected ?var, (aggregate ?var) or (pull ?e pattern))");
      }
      q_->find.push_back(std::move(f));
    }
    return Status::Ok();
  }

  Status ParseKeys(const edn::Node& keys, Query::Keys kind) {
    if (q_->keys != Query::Keys::kNone) return Err(keys, "only one of :keys, :strs, :syms");
    q_->keys = kind;
    for (const edn::Node& k : keys.items) {
      if (k.kind != edn::Kind::kSymbol && k.kind != edn::Kind::kKeyword &&
          k.kind != edn::Kind::kString) {
        return Err(k, "expected a name, got " + edn::Write(k));
      }
      q_->key_names.push_back(k.text);
    }
    return Status::Ok();
  }

  // Section name → its forms, from either the vector or the map form.
  Status Sections(const edn::Node& form, std::map<std::string, const edn::Node*>* firsts,
                  std::map<std::string, edn::Node>* sections) {
    if (form.kind == edn::Kind::kMap) {
      for (size_t i = 0; i + 1 < form.items.size(); i += 2) {
        const edn::Node& k = form.items[i];
        if (k.kind != edn::Kind::kKeyword) return Err(k, "query map keys must be keywords");
        (*sections)[k.text] = form.items[i + 1];
        (*firsts)[k.text] = &form.items[i];
      }
      return Status::Ok();
    }
    if (form.kind != edn::Kind::kVector) {
      return Err(form, "a query is a vector [:find ...] or a map {:find ...}");
    }
    std::string current;
    for (const edn::Node& item : form.items) {
      if (item.kind == edn::Kind::kKeyword) {
        current = item.text;
        if (sections->count(current)) return Err(item, "duplicate :" + current);
        (*sections)[current] = edn::Node::Coll(edn::Kind::kVector, {});
        (*sections)[current].pos = item.pos;
        (*firsts)[current] = &item;
        continue;
      }
      if (current.empty()) return Err(item, "a query must start with :find");
      (*sections)[current].items.push_back(item);
    }
    return Status::Ok();
  }

  Status ParseQueryForm(const edn::Node& form) {
    std::map<std::string, edn::Node> sections;
    std::map<std::string, const edn::Node*> at;
    DL_RETURN_IF_ERROR(Sections(form, &at, &sections));
    static const std::set<std::string> kKnown = {"find", "in", "where", "with", "keys",
                                                 "strs", "syms", "limit", "offset", "timeout"};
    for (const auto& [name, node] : sections) {
      if (!kKnown.count(name)) return Err(*at[name], "unknown query section :" + name);
    }
    auto find = sections.find("find");
    if (find == sections.end()) return Err(form, "query has no :find");
    auto need_vector = [&](const std::string& name) -> Status {
      const edn::Node& s = sections[name];
      if (s.kind != edn::Kind::kVector && s.kind != edn::Kind::kList) {
        return Err(s, ":" + name + " must be a vector");
      }
      return Status::Ok();
    };
    DL_RETURN_IF_ERROR(need_vector("find"));
    if (sections.count("in")) {
      DL_RETURN_IF_ERROR(need_vector("in"));
      for (const edn::Node& b : sections["in"].items) {
        DL_ASSIGN_OR_RETURN(Binding binding, ParseBinding(b, true));
        q_->in.push_back(std::move(binding));
      }
    } else {
      Binding src;
      src.kind = Binding::Kind::kSource;
      src.source = "$";
      q_->in.push_back(src);
    }
    if (sections.count("where")) {
      DL_RETURN_IF_ERROR(need_vector("where"));
      DL_RETURN_IF_ERROR(ParseClauses(sections["where"], 0, &q_->where));
    }
    DL_RETURN_IF_ERROR(ParseFind(sections["find"], *at["find"]));
    if (sections.count("with")) {
      DL_RETURN_IF_ERROR(need_vector("with"));
      for (const edn::Node& w : sections["with"].items) {
        if (!IsVarSym(w)) return Err(w, ":with takes variables, got " + edn::Write(w));
        q_->with.push_back(q_->Var(w.text));
      }
    }
    for (const auto& [name, kind] : {std::pair{"keys", Query::Keys::kKeys},
                                     std::pair{"strs", Query::Keys::kStrs},
                                     std::pair{"syms", Query::Keys::kSyms}}) {
      if (!sections.count(name)) continue;
      DL_RETURN_IF_ERROR(need_vector(name));
      DL_RETURN_IF_ERROR(ParseKeys(sections[name], kind));
      if (q_->key_names.size() != q_->find.size()) {
        return Err(*at[name], ":" + std::string(name) + " names " +
                                  std::to_string(q_->key_names.size()) +
                                  " keys but :find has " + std::to_string(q_->find.size()) +
                                  " elements");
      }
      if (q_->shape != Query::Shape::kRelation && q_->shape != Query::Shape::kTuple) {
        return Err(*at[name], ":" + std::string(name) + " needs a relation or tuple :find");
      }
    }
    for (const char* name : {"limit", "offset"}) {
      if (!sections.count(name)) continue;
      const edn::Node& s = sections[name];
      const edn::Node* v = s.kind == edn::Kind::kVector && form.kind == edn::Kind::kVector
                               ? (s.items.size() == 1 ? &s.items[0] : nullptr)
                               : &s;
      if (!v || v->kind != edn::Kind::kLong || v->i < 0) {
        return Err(*at[name], ":" + std::string(name) + " takes one non-negative integer");
      }
      (std::string(name) == "limit" ? q_->limit : q_->offset) = v->i;
    }
    return Status::Ok();
  }

  Status ParseRuleSet(const edn::Node& form) {
    if (form.kind != edn::Kind::kVector && form.kind != edn::Kind::kList) {
      return Err(form, "rules must be a vector of rules [[(name ?a ?b) clause ...] ...]");
    }
    for (const edn::Node& r : form.items) {
      if (r.kind != edn::Kind::kVector || r.items.size() < 2 ||
          r.items[0].kind != edn::Kind::kList || r.items[0].items.empty() ||
          r.items[0].items[0].kind != edn::Kind::kSymbol) {
        return Err(r, "a rule is [(name ?a ...) clause ...]");
      }
      const edn::Node& head = r.items[0];
      Rule rule;
      rule.pos = r.pos;
      rule.name = head.items[0].text;
      for (size_t i = 1; i < head.items.size(); ++i) {
        const edn::Node& v = head.items[i];
        if (i == 1 && v.kind == edn::Kind::kVector) {
          for (const edn::Node& req : v.items) {
            if (!IsVarSym(req)) return Err(req, "rule arguments must be variables");
            rule.head.push_back(q_->Var(req.text));
          }
          rule.required = v.items.size();
          continue;
        }
        if (!IsVarSym(v)) return Err(v, "rule arguments must be variables");
        rule.head.push_back(q_->Var(v.text));
      }
      DL_RETURN_IF_ERROR(ParseClauses(r, 1, &rule.body));
      auto& defs = q_->rules[rule.name];
      if (!defs.empty() && defs[0].head.size() != rule.head.size()) {
        return Err(r, "rule " + rule.name + " is defined with " +
                          std::to_string(defs[0].head.size()) + " and " +
                          std::to_string(rule.head.size()) + " arguments");
      }
      defs.push_back(std::move(rule));
    }
    return Status::Ok();
  }

 private:
  Query* q_;
};

}  // namespace

VarId Query::Var(const std::string& name) {
  for (size_t i = 0; i < var_names.size(); ++i)
    if (var_names[i] == name) return static_cast<VarId>(i);
  var_names.push_back(name);
  return static_cast<VarId>(var_names.size() - 1);
}

Result<std::shared_ptr<Query>> ParseQuery(const edn::Node& form) {
  auto q = std::make_shared<Query>();
  Parser p(q.get());
  DL_RETURN_IF_ERROR(p.ParseQueryForm(form));
  return q;
}

Status ParseRules(const edn::Node& form, Query* query) {
  Parser p(query);
  return p.ParseRuleSet(form);
}

}  // namespace datalith::query
