// The pull API (docs/pull.md). A pattern is compiled once per call against the
// database's schema (attribute idents resolved to ids, options checked, recursion
// targets linked), then applied to each entity through the public Db API: EAVT for an
// entity's attributes, VAET for reverse refs. Time views apply because every read
// goes through the Db.
#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "datalith/query.h"

namespace datalith {
namespace {

using edn::Kind;
using edn::Node;

// Entities nested in one pull result; deeper is an error (unbounded recursion down a
// long chain). Bounds the native stack (a level takes ~1.5 KB) and keeps results
// within the EDN reader's 512 levels of nesting (a map and a vector per level).
constexpr size_t kMaxDepth = 256;

struct Pattern;

// How the entities a ref points at are rendered.
struct Follow {
  const Pattern* pattern = nullptr;  // nullptr: {:db/id N}
  bool guard = false;   // recursion or component: an entity already on the path is {:db/id N}
  int depth = 0;        // recursion depth limit, 0 = none
  int slot = -1;        // the depth counter of a depth-limited recursion
};

struct Spec {
  enum class Type : uint8_t { kId, kWildcard, kForward, kReverse };
  Type type = Type::kForward;
  Node key;                          // the result key: the name as written, or the alias
  const Attribute* attr = nullptr;   // nullptr: an unknown attribute, which has no values
  std::optional<int64_t> limit;      // values kept (cardinality many and reverse refs)
  std::optional<Node> default_value;
  std::unique_ptr<Pattern> sub;      // {:attr [...]}
  Follow follow;

  bool many() const {
    return type == Type::kReverse ? !(attr && attr->component) : attr && attr->many;
  }
};

struct Pattern {
  std::vector<Spec> specs;
  bool wildcard = false;
  std::unordered_set<std::string> keys;      // edn::Write of every result key
  std::vector<EntityId> named;               // forward attributes named explicitly (beat *), ascending
  // Every spec is :db/id or a forward attribute whose values are written as they are
  // read (none pulls the entities it refers to), the attributes in ascending id order:
  // the values go from the EAVT iterator to the writer in the pattern's order,
  // without being collected first.
  bool stream = true;
  EntityId last_streamed = 0;  // the largest attribute of those specs so far
  // Otherwise, read the entity's EAVT datoms in one scan (`*`, or several attributes)
  // rather than seeking each attribute.
  bool scan() const { return wildcard || named.size() > 1; }
  bool Named(EntityId a) const { return std::binary_search(named.begin(), named.end(), a); }
};

// `*` alone: what a component ref without a sub-pattern is pulled with.
const Pattern& WildcardPattern() {
  static const Pattern kWildcard = [] {
    Pattern w;
    w.wildcard = true;
    w.stream = false;
    w.specs.emplace_back().type = Spec::Type::kWildcard;
    return w;
  }();
  return kWildcard;
}

Status Err(const Node& at, const std::string& message) {
  return Status::Invalid(at.Where() + ": " + message);
}

// ---- compiling ----

class Compiler {
 public:
  explicit Compiler(const Schema& schema) : schema_(schema) {}

  Result<std::unique_ptr<Pattern>> Compile(const Node& n) {
    if (!n.is(Kind::kVector)) return Err(n, "pull pattern must be a vector, got " + edn::Write(n));
    if (n.items.empty()) return Err(n, "empty pull pattern");
    auto p = std::make_unique<Pattern>();
    for (const Node& item : n.items) {
      if (item.is(Kind::kMap)) {
        for (size_t i = 0; i < item.items.size(); i += 2) {
          DL_RETURN_IF_ERROR(AddMapEntry(item.items[i], item.items[i + 1], p.get()));
        }
      } else if (item.IsSymbol("*") || (item.is(Kind::kString) && item.text == "*")) {
        if (p->wildcard) return Err(item, "`*` given twice");
        p->wildcard = true;
        p->stream = false;
        Spec s;
        s.type = Spec::Type::kWildcard;
        p->specs.push_back(std::move(s));
      } else {
        Spec s;
        DL_RETURN_IF_ERROR(ParseAttr(item, &s));
        DL_RETURN_IF_ERROR(Add(item, std::move(s), p.get()));
      }
    }
    return p;
  }

  int slots() const { return slots_; }

 private:
  // {attr-spec sub-pattern | ... | depth}
  Status AddMapEntry(const Node& key, const Node& value, Pattern* p) {
    Spec s;
    DL_RETURN_IF_ERROR(ParseAttr(key, &s));
    if (s.type == Spec::Type::kId) return Err(key, ":db/id cannot have a sub-pattern");
    if (s.type == Spec::Type::kForward && s.attr && s.attr->type != ValueType::kRef &&
        s.attr->type != ValueType::kNil) {
      return Err(key, "attribute " + edn::Write(key) + " is not a ref, it cannot have a sub-pattern");
    }
    if (value.is(Kind::kVector)) {
      DL_ASSIGN_OR_RETURN(s.sub, Compile(value));
    } else if (value.IsSymbol("...")) {
      s.follow = {p, true};
    } else if (value.is(Kind::kLong) && value.i > 0 && value.i <= int64_t{kMaxDepth}) {
      s.follow = {p, true, static_cast<int>(value.i), slots_++};
    } else {
      return Err(value, "expected a pattern vector, `...` or a positive recursion depth, got " +
                            edn::Write(value));
    }
    return Add(key, std::move(s), p);
  }

  // An attribute name, (limit :attr n), (default :attr v), or [:attr :as k :limit n ...].
  Status ParseAttr(const Node& n, Spec* s) {
    if (n.is(Kind::kKeyword)) return ParseName(n, s);
    if (!n.is(Kind::kVector) && !n.is(Kind::kList)) {
      return Err(n, "expected an attribute, `*`, a map or an attribute expression, got " +
                        edn::Write(n));
    }
    if (n.items.empty()) return Err(n, "empty attribute expression");
    const Node& head = n.items[0];
    if (head.IsSymbol("limit") || head.IsSymbol("default")) {
      if (n.items.size() != 3) return Err(n, "expected (" + head.text + " attribute value)");
      DL_RETURN_IF_ERROR(ParseName(n.items[1], s));
      return SetOption(head, head.text, n.items[2], s);
    }
    if (!n.is(Kind::kVector) || !head.is(Kind::kKeyword)) {
      return Err(head, "expected an attribute or `limit`/`default`, got " + edn::Write(head));
    }
    DL_RETURN_IF_ERROR(ParseName(head, s));
    if (n.items.size() % 2 == 0) return Err(n, "attribute options must come in pairs");
    for (size_t i = 1; i < n.items.size(); i += 2) {
      const Node& opt = n.items[i];
      if (!opt.is(Kind::kKeyword)) return Err(opt, "expected :as, :limit or :default, got " + edn::Write(opt));
      DL_RETURN_IF_ERROR(SetOption(opt, opt.text, n.items[i + 1], s));
    }
    return Status::Ok();
  }

  // The option `name` (given at `at`) with value `v`.
  Status SetOption(const Node& at, const std::string& name, const Node& v, Spec* s) {
    if (name == "as") {
      if (!v.is(Kind::kKeyword) && !v.is(Kind::kString))
        return Err(v, "an alias must be a keyword or a string, got " + edn::Write(v));
      s->key = v;
    } else if (name == "limit") {
      if (v.is(Kind::kNil)) {
        s->limit.reset();
      } else if (v.is(Kind::kLong) && v.i > 0) {
        s->limit = v.i;
      } else {
        return Err(v, "limit must be a positive integer or nil, got " + edn::Write(v));
      }
    } else if (name == "default") {
      s->default_value = v;
    } else {
      return Err(at, "unknown attribute option :" + name + " (expected :as, :limit or :default)");
    }
    return Status::Ok();
  }

  // :db/id, :ns/attr, :attr, :ns/_attr (reverse), :_attr.
  Status ParseName(const Node& n, Spec* s) {
    if (!n.is(Kind::kKeyword)) return Err(n, "expected an attribute keyword, got " + edn::Write(n));
    s->key = n;
    if (n.text == "db/id") {
      s->type = Spec::Type::kId;
      return Status::Ok();
    }
    const size_t slash = n.text.find('/');
    const size_t name_at = slash == std::string::npos ? 0 : slash + 1;
    std::string ident = n.text;
    if (n.text.compare(name_at, 1, "_") == 0) {
      s->type = Spec::Type::kReverse;
      ident.erase(name_at, 1);
    }
    s->attr = schema_.AttrByIdent(ident);
    if (s->type == Spec::Type::kReverse && s->attr && s->attr->type != ValueType::kRef &&
        s->attr->type != ValueType::kNil) {
      return Err(n, "reverse lookup " + edn::Write(n) + " needs a ref attribute, :" + ident + " is not");
    }
    return Status::Ok();
  }

  // Registers a parsed spec: unique key, explicit override of `*`, how refs are followed
  // (recursion was set by the map entry).
  Status Add(const Node& at, Spec s, Pattern* p) {
    if (!p->keys.insert(edn::Write(s.key)).second)
      return Err(at, "duplicate key " + edn::Write(s.key) + " in pull pattern");
    if (s.type == Spec::Type::kForward && s.attr) {
      auto at = std::lower_bound(p->named.begin(), p->named.end(), s.attr->id);
      if (at == p->named.end() || *at != s.attr->id) p->named.insert(at, s.attr->id);
    }
    const bool component = s.attr && s.attr->component;
    if (s.sub) {
      s.follow = {s.sub.get(), component};
    } else if (!s.follow.pattern && component && s.type == Spec::Type::kForward) {
      s.follow = {&WildcardPattern(), true};
    }
    if (s.type == Spec::Type::kReverse || s.follow.pattern) {
      p->stream = false;
    } else if (s.type == Spec::Type::kForward && s.attr) {
      p->stream = p->stream && s.attr->id > p->last_streamed;
      p->last_streamed = s.attr->id;
    }
    p->specs.push_back(std::move(s));
    return Status::Ok();
  }

  const Schema& schema_;
  int slots_ = 0;
};

// ---- pulling ----

class Puller {
  using Datoms = std::span<const Datom>;

 public:
  Puller(const Db& db, int slots, PullWriter* out)
      : db_(db), w_(*out), remaining_(slots, -1), time_view_(db.as_of() || db.since()) {}

  // Writes the entity as a map; writes nothing and returns false when it has none of
  // the pattern's keys.
  Result<bool> Pull(EntityId e, const Pattern& p) {
    if (path_.size() >= kMaxDepth)
      return Status::Unsupported("pull nests deeper than " + std::to_string(kMaxDepth) + " entities");
    // The scanned datoms; one buffer serves every entity of the outermost level.
    std::vector<Datom> nested;
    std::vector<Datom>& scanned = path_.empty() ? outer_ : nested;
    size_t n = 0;
    // A time view's hidden datoms would be walked past one by one by the unbounded
    // iterator Stream shares, beyond the entity: it seeks each attribute instead.
    const bool stream = p.stream && !time_view_, scan = !stream && p.scan();
    if (scan) DL_RETURN_IF_ERROR(Scan(e, p, &scanned, &n));
    const Datoms datoms(scanned.data(), n);
    path_.push_back(e);
    const uint64_t before = w_.Mark();
    w_.BeginMap(p.specs.size() + (p.wildcard ? datoms.size() : 0));
    const uint64_t empty = w_.Mark();
    Status st;
    for (size_t i = 0; st.ok() && i < p.specs.size(); ++i) {
      const Spec& s = p.specs[i];
      st = s.type == Spec::Type::kWildcard ? EmitWildcard(e, p, datoms)
           : stream                        ? Stream(e, s)
                                           : Emit(e, s, scan ? &datoms : nullptr);
    }
    path_.pop_back();
    DL_RETURN_IF_ERROR(st);
    if (w_.Mark() == empty) {
      w_.Rollback(before);
      return false;
    }
    w_.EndMap();
    return true;
  }

 private:
  struct WildAttr {
    const Attribute* attr = nullptr;
    Node key;
    std::string key_text;
  };

  // The entity's EAVT datoms the pattern needs, into (*out)[0, *n): all of them for
  // `*`, else those of the named attributes, jumping from one named attribute to the
  // next and stopping after the largest, so the values of the others are never read.
  // `out` keeps its datoms from one entity to the next, so copying a text value into
  // one mostly needs no allocation. One EAVT iterator serves entities pulled in
  // ascending order (pull-many of sorted ids): each is reached by a forward seek,
  // mostly within the current leaf.
  Status Scan(EntityId e, const Pattern& p, std::vector<Datom>* out, size_t* n) {
    // Attribute 0 is before every attribute: the entity's first datom.
    DL_RETURN_IF_ERROR(SeekEa(e, p.wildcard ? 0 : p.named.front()));
    eavt_a_ = UINT64_MAX;  // the scan reads on to the next entity
    DatomIterator& it = *eavt_;
    while (it.Valid() && it.datom().e == e) {
      const Datom& d = it.datom();
      if (p.wildcard || p.Named(d.a)) {
        if (*n == out->size()) {
          out->push_back(d);
        } else {
          (*out)[*n] = d;  // into a datom whose text buffer has room, mostly
        }
        ++*n;
        it.Next();
        continue;
      }
      auto next = std::upper_bound(p.named.begin(), p.named.end(), d.a);
      if (next == p.named.end()) break;
      DL_RETURN_IF_ERROR(it.SkipToIds(e, *next));
    }
    return it.status();
  }

  // Positions the EAVT iterator on the first datom at or after (e, a): forward while
  // the targets ascend (entities pulled in ascending order, a streaming pattern's
  // attributes), by a fresh seek otherwise.
  Status SeekEa(EntityId e, EntityId a) {
    if (!eavt_ || e < eavt_e_ || (e == eavt_e_ && a <= eavt_a_)) {
      DL_ASSIGN_OR_RETURN(DatomIterator it, db_.SeekDatoms(IndexType::kEavt, {Value::Ref(e), Value::Ref(a)}));
      eavt_.emplace(std::move(it));
    } else {
      DL_RETURN_IF_ERROR(eavt_->SkipToIds(e, a));
    }
    eavt_e_ = e;
    eavt_a_ = a;
    return Status::Ok();
  }

  // One spec of a streaming pattern (Pattern::stream): the values as the EAVT iterator
  // reads them (a ref as {:db/id N}), up to the limit, else the default.
  Status Stream(EntityId e, const Spec& s) {
    if (s.type == Spec::Type::kId) return Emit(e, s, nullptr);
    if (s.attr) {
      DL_RETURN_IF_ERROR(SeekEa(e, s.attr->id));
      DatomIterator& it = *eavt_;
      const bool many = s.many();
      const size_t limit = !many ? 1 : s.limit ? static_cast<size_t>(*s.limit) : SIZE_MAX;
      size_t n = 0;
      while (it.Valid() && it.datom().e == e && it.datom().a == s.attr->id) {
        if (n == 0) {
          w_.Key(s.key);
          if (many) w_.BeginVector();
        }
        // A scalar straight to the writer: One's Status is measurable on this path
        // (pull-many in Chromium 1-6% faster); a ref as {:db/id N}, nothing to pull.
        const Value& v = it.datom().v;
        if (v.type() == ValueType::kRef) {
          DL_RETURN_IF_ERROR(One(v, s.follow));
        } else {
          w_.Scalar(v);
        }
        // On to the next datom: mostly the next spec's (or the next entity's first),
        // which then needs no seek.
        it.Next();
        if (++n == limit) break;
      }
      if (!it.status().ok()) return it.status();
      if (n > 0) {
        if (many) w_.EndVector();
        return Status::Ok();
      }
    }
    return Default(s);
  }

  // The first of the entity's scanned datoms (in attribute order) with attribute `a`.
  static Datoms::iterator FirstOf(Datoms scanned, EntityId a) {
    return std::lower_bound(scanned.begin(), scanned.end(), a,
                            [](const Datom& d, EntityId attr) { return d.a < attr; });
  }

  // `scanned`: the entity's datoms from Scan, or nullptr to seek the attribute.
  Status Emit(EntityId e, const Spec& s, const Datoms* scanned) {
    if (s.type == Spec::Type::kId) {
      w_.Key(s.key);
      w_.Data(Node::Long(static_cast<int64_t>(e)));
      return Status::Ok();
    }
    if (scanned && s.type == Spec::Type::kForward && s.attr && !s.many()) {
      // The common case, a scalar attribute from the scan: no intermediate vectors.
      auto it = FirstOf(*scanned, s.attr->id);
      if (it != scanned->end() && it->a == s.attr->id && it->v.type() != ValueType::kRef) {
        w_.Key(s.key);
        w_.Scalar(it->v);
        return Status::Ok();
      }
    }
    std::vector<Value> values;
    if (s.attr) DL_RETURN_IF_ERROR(Values(e, s, scanned, &values));
    if (!values.empty()) return Render(s.key, values, s.many(), s.follow);
    return Default(s);
  }

  // A spec with no values: its default, if it has one.
  Status Default(const Spec& s) {
    if (s.default_value) {
      w_.Key(s.key);
      w_.Data(*s.default_value);
    }
    return Status::Ok();
  }

  // The values of a forward spec, or the referring entities of a reverse one, up to its limit.
  Status Values(EntityId e, const Spec& s, const Datoms* scanned, std::vector<Value>* out) {
    const size_t limit = !s.many() ? 1 : s.limit ? static_cast<size_t>(*s.limit) : SIZE_MAX;
    const EntityId a = s.attr->id;
    if (scanned && s.type == Spec::Type::kForward) {
      auto it = FirstOf(*scanned, a);
      for (; it != scanned->end() && it->a == a && out->size() < limit; ++it) out->push_back(it->v);
      return Status::Ok();
    }
    const bool reverse = s.type == Spec::Type::kReverse;
    DL_ASSIGN_OR_RETURN(DatomIterator it, db_.DatomsIter(reverse ? IndexType::kVaet : IndexType::kEavt,
                                                         {Value::Ref(e), Value::Ref(a)}));
    for (; it.Valid() && out->size() < limit; it.Next()) {
      out->push_back(reverse ? Value::Ref(it.datom().e) : it.datom().v);
    }
    return it.status();
  }

  // Every attribute of the entity but those the pattern names, after :db/id; nothing
  // at all for an entity without datoms.
  Status EmitWildcard(EntityId e, const Pattern& p, Datoms datoms) {
    if (datoms.empty()) return Status::Ok();
    if (!p.keys.count(":db/id")) {
      w_.Key(DbIdKey());
      w_.Data(Node::Long(static_cast<int64_t>(e)));
    }
    std::vector<Value> values;
    for (size_t i = 0, end; i < datoms.size(); i = end) {
      const EntityId a = datoms[i].a;
      for (end = i; end < datoms.size() && datoms[end].a == a; ++end) {}
      const WildAttr& w = Wild(a);
      if (p.Named(a) || p.keys.count(w.key_text)) continue;
      values.clear();
      for (size_t j = i; j < end; ++j) values.push_back(datoms[j].v);
      const bool component = w.attr && w.attr->component;
      const Follow follow = component ? Follow{&WildcardPattern(), true} : Follow{};
      DL_RETURN_IF_ERROR(Render(w.key, values, w.attr && w.attr->many, follow));
    }
    return Status::Ok();
  }

  // Writes key → the value (many: a vector of them), refs rendered through `follow`.
  // Refs whose pulled entity is nil are left out, and so is a key left with nothing.
  Status Render(const Node& key, const std::vector<Value>& values, bool many, const Follow& follow) {
    const uint64_t before = w_.Mark();
    w_.Key(key);
    if (many) w_.BeginVector();
    const uint64_t empty = w_.Mark();
    for (size_t i = 0; i < (many ? values.size() : 1); ++i) DL_RETURN_IF_ERROR(One(values[i], follow));
    if (w_.Mark() == empty) {
      w_.Rollback(before);
    } else if (many) {
      w_.EndVector();
    }
    return Status::Ok();
  }

  // One value: a scalar as is, a ref as {:db/id N} or pulled; nothing when left out.
  Status One(const Value& v, const Follow& f) {
    if (v.type() != ValueType::kRef) {
      w_.Scalar(v);
      return Status::Ok();
    }
    if (f.slot >= 0 && remaining_[f.slot] == 0) return Status::Ok();  // depth reached: left out
    const EntityId target = v.ref();
    if (!f.pattern || (f.guard && OnPath(target))) {
      w_.BeginMap(1);
      w_.Key(DbIdKey());
      w_.Scalar(v);
      w_.EndMap();
      return Status::Ok();
    }
    if (f.slot < 0) return Pull(target, *f.pattern).status();
    int& left = remaining_[f.slot];
    const int saved = left;
    left = (left < 0 ? f.depth : left) - 1;
    Status st = Pull(target, *f.pattern).status();
    left = saved;
    return st;
  }

  static const Node& DbIdKey() {
    static const Node kKey = Node::Keyword("db/id");
    return kKey;
  }

  bool OnPath(EntityId e) const {
    for (EntityId p : path_) {
      if (p == e) return true;
    }
    return false;
  }

  const WildAttr& Wild(EntityId a) {
    auto [it, added] = wild_.try_emplace(a);
    if (added) {
      WildAttr& w = it->second;
      w.attr = db_.schema().Attr(a);
      const std::string* ident = db_.schema().Ident(a);
      w.key = ident ? Node::Keyword(*ident) : Node::Long(static_cast<int64_t>(a));
      w.key_text = edn::Write(w.key);
    }
    return it->second;
  }

  const Db& db_;
  PullWriter& w_;
  std::optional<DatomIterator> eavt_;  // Scan's and Stream's, last positioned for:
  EntityId eavt_e_ = 0;
  EntityId eavt_a_ = 0;
  std::vector<EntityId> path_;                   // entities being pulled, outermost first
  std::vector<Datom> outer_;                     // Scan's datoms of the outermost entities
  std::vector<int> remaining_;                   // per depth-limited recursion, -1 = not entered
  std::unordered_map<EntityId, WildAttr> wild_;  // wildcard keys, resolved once per call
  const bool time_view_;                         // the Db is as of or since a transaction
};

// Builds the results as EDN nodes: the open maps and vectors on a stack above the
// list of results. A mark is the depth and the item count of the innermost.
class NodeWriter final : public PullWriter {
 public:
  explicit NodeWriter(size_t results) : open_(1) { open_[0].items.reserve(results); }

  void BeginMap(size_t entries) override { Open(Kind::kMap).items.reserve(2 * entries); }
  void EndMap() override { Close(); }
  void BeginVector() override { Open(Kind::kVector); }
  void EndVector() override { Close(); }
  void Key(const Node& key) override { open_.back().items.push_back(key); }
  void Scalar(const Value& value) override { open_.back().items.push_back(edn::FromValue(value)); }
  void Data(const Node& node) override { open_.back().items.push_back(node); }
  void Nil() override { open_.back().items.push_back(Node::Nil()); }
  uint64_t Mark() const override { return uint64_t{open_.size()} << 32 | open_.back().items.size(); }
  void Rollback(uint64_t mark) override {
    open_.resize(mark >> 32);
    open_.back().items.resize(mark & 0xffffffffu);
  }

  std::vector<Node> Take() { return std::move(open_.front().items); }

 private:
  Node& Open(Kind kind) {
    Node& n = open_.emplace_back();
    n.kind = kind;
    return n;
  }
  void Close() {
    Node done = std::move(open_.back());
    open_.pop_back();
    open_.back().items.push_back(std::move(done));
  }

  std::vector<Node> open_;  // [0]: the results; then each open collection, outermost first
};

// Compiles the pattern and pulls each entity into `out`.
Status PullInto(const Db& db, const Node& pattern, const std::vector<Value>& entities, PullWriter* out) {
  if (!db.valid()) return Status::Invalid("pull: database is not open");
  if (db.is_history()) return Status::Unsupported("pull needs a database value, not a history view");
  Compiler compiler(db.schema());
  DL_ASSIGN_OR_RETURN(std::unique_ptr<Pattern> p, compiler.Compile(pattern));
  Puller puller(db, compiler.slots(), out);
  for (const Value& ref : entities) {
    Result<EntityId> e = db.Entid(ref);
    if (!e.ok() && e.status().code() != Code::kNotFound) return e.status().WithContext("pull");
    bool wrote = false;  // an entity that names nothing (unknown ident, lookup ref without match) is nil
    if (e.ok()) {
      DL_ASSIGN_OR_RETURN(wrote, puller.Pull(*e, *p));
    }
    if (!wrote) out->Nil();
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Node>> PullMany(const Db& db, const Node& pattern,
                                   const std::vector<Value>& entities) {
  NodeWriter out(entities.size());
  DL_RETURN_IF_ERROR(PullInto(db, pattern, entities, &out));
  return out.Take();
}

Result<std::vector<Node>> PullMany(const Db& db, std::string_view pattern,
                                   const std::vector<Value>& entities) {
  DL_ASSIGN_OR_RETURN(Node p, edn::ReadOne(pattern));
  return PullMany(db, p, entities);
}

Status PullMany(const Db& db, std::string_view pattern, const std::vector<Value>& entities,
                PullWriter* out) {
  DL_ASSIGN_OR_RETURN(Node p, edn::ReadOne(pattern));
  return PullInto(db, p, entities, out);
}

Result<Node> Pull(const Db& db, const Node& pattern, const Value& entity) {
  DL_ASSIGN_OR_RETURN(std::vector<Node> r, PullMany(db, pattern, {entity}));
  return std::move(r[0]);
}

Result<Node> Pull(const Db& db, std::string_view pattern, const Value& entity) {
  DL_ASSIGN_OR_RETURN(Node p, edn::ReadOne(pattern));
  return Pull(db, p, entity);
}

}  // namespace datalith
