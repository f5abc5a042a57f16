#include <algorithm>

#include "db/db_state.h"
#include "util/varint.h"

namespace datalith {

const char* IndexName(IndexType t) {
  switch (t) {
    case IndexType::kEavt: return "eavt";
    case IndexType::kAevt: return "aevt";
    case IndexType::kAvet: return "avet";
    case IndexType::kVaet: return "vaet";
  }
  return "?";
}

bool ParseIndexName(const std::string& name, IndexType* out) {
  std::string n = name;
  if (!n.empty() && n[0] == ':') n = n.substr(1);
  for (int i = 0; i < kIndexCount; ++i) {
    if (n == IndexName(static_cast<IndexType>(i))) {
      *out = static_cast<IndexType>(i);
      return true;
    }
  }
  return false;
}

namespace internal {

uint64_t TreeCount(const DbState& s, bool history, int index) {
  const index::Child& root = history ? s.history[index] : s.current[index];
  const auto& live = history ? s.history_live[index] : s.current_live[index];
  return live ? static_cast<uint64_t>(static_cast<int64_t>(root.count) + live->delta()) : root.count;
}

Result<uint64_t> TreeCountRange(const DbState& s, int index, std::string_view lo, std::string_view hi) {
  DL_ASSIGN_OR_RETURN(uint64_t n, index::CountRange(*s.src, s.current[index], lo, hi));
  const auto& live = s.current_live[index];
  return live ? static_cast<uint64_t>(static_cast<int64_t>(n) + live->DeltaIn(lo, hi)) : n;
}

namespace {

// Folds one tree's live index (if any) into the tree.
Status FoldTree(DbState* s, bool history, int index) {
  std::shared_ptr<const index::Live>& live = history ? s->history_live[index] : s->current_live[index];
  if (!live) return Status::Ok();
  index::Child& root = history ? s->history[index] : s->current[index];
  DL_ASSIGN_OR_RETURN(root, index::Fold(*s->src, root, *live));
  s->live_entries -= live->size();
  live.reset();
  return Status::Ok();
}

}  // namespace

Status AddEdits(DbState* s, bool history, int index, const index::KeyEdit* begin,
                const index::KeyEdit* end) {
  // A large batch (a bulk load) goes to the tree directly, after what is live; so does
  // every batch on a store that may miss nodes: a fold needs the leaves it rewrites,
  // and a transaction that fails for a missing node must have changed nothing.
  if (index::Live::Fills(begin, end) || s->src->store()->MayMissNodes()) {
    DL_RETURN_IF_ERROR(FoldTree(s, history, index));
    index::Child& root = history ? s->history[index] : s->current[index];
    DL_ASSIGN_OR_RETURN(root, index::Apply(*s->src, root, begin, end));
    return Status::Ok();
  }
  std::shared_ptr<const index::Live>& live = history ? s->history_live[index] : s->current_live[index];
  size_t had = live ? live->size() : 0;
  live = index::Live::Append(live.get(), begin, end);
  s->live_entries += live->size() - had;
  return live->Full() ? FoldTree(s, history, index) : Status::Ok();
}

Status FoldLive(DbState* s) {
  for (int i = 0; i < kIndexCount; ++i) {
    for (bool history : {false, true}) DL_RETURN_IF_ERROR(FoldTree(s, history, i));
  }
  return Status::Ok();
}

std::shared_ptr<const DbState> Readable(const std::shared_ptr<const DbState>& s) {
  if (s->live_entries < kReadFoldAt) return s;
  std::lock_guard<std::mutex> lock(s->folded.mu);
  if (!s->folded.state) {
    auto twin = std::make_shared<DbState>(*s);
    if (!FoldLive(twin.get()).ok()) return s;  // then read through the live runs
    s->folded.state = std::move(twin);
  }
  return s->folded.state;
}

std::shared_ptr<const DbState> Settled(const std::shared_ptr<const DbState>& s) {
  if (s->live_entries < kReadFoldAt) return s;
  std::lock_guard<std::mutex> lock(s->folded.mu);
  return s->folded.state ? s->folded.state : s;
}

bool HasLive(const DbState& s) {
  for (int i = 0; i < kIndexCount; ++i) {
    if (s.current_live[i] || s.history_live[i]) return true;
  }
  return false;
}

DatomCursor::DatomCursor(std::shared_ptr<const DbState> state, IndexType index, std::string lo,
                         std::string hi, View view, bool fold)
    : state_(fold ? Readable(state) : std::move(state)),
      index_(index),
      hi_(std::move(hi)),
      view_(view),
      cur_(state_->src.get(), state_->current[static_cast<int>(index)],
           state_->current_live[static_cast<int>(index)]),
      hist_(state_->src.get(), state_->history[static_cast<int>(index)],
            state_->history_live[static_cast<int>(index)]),
      use_history_(view.history || view.as_of.has_value()) {
  if (SeekTrees(lo, false)) Settle();
}

bool DatomCursor::SeekTrees(std::string_view target, bool forward) {
  for (index::LiveIterator* it : {&cur_, &hist_}) {
    if (it == &hist_ && !use_history_) break;
    if (forward) {
      it->SeekForward(target);
    } else {
      it->Seek(target);
    }
    if (!it->status().ok()) return Fail(it->status());
  }
  return true;
}

void DatomCursor::SkipTo(std::string_view target) {
  if (!valid_) return;
  // The current datom stays if it is at or after the target. (A history entry's key
  // ends in a flag byte after the tx; the target, a prefix of components, never
  // reaches it, so the comparison is the same as without it.)
  if (key() >= target) return;
  if (SeekTrees(target, true)) Settle();
}

void DatomCursor::Next() {
  if (on_ == On::kCurrent || on_ == On::kHistory) {
    Step(on_ == On::kHistory);
    if (!status_.ok()) return;
  }
  Settle();
}

bool DatomCursor::Fail(const Status& s) {
  status_ = s;
  valid_ = false;
  on_ = On::kNone;
  return false;
}

bool DatomCursor::Peek(std::string_view* key, bool* from_history) {
  bool c = cur_.Valid() && (hi_.empty() || cur_.key() < std::string_view(hi_));
  bool h = use_history_ && hist_.Valid() && (hi_.empty() || hist_.key() < std::string_view(hi_));
  if (!c && !h) return false;
  if (c && (!h || cur_.key() < hist_.key())) {
    *key = cur_.key();
    *from_history = false;
  } else {
    *key = hist_.key();
    *from_history = true;
  }
  return true;
}

void DatomCursor::Step(bool from_history) {
  index::LiveIterator& it = from_history ? hist_ : cur_;
  it.Next();
  if (!it.status().ok()) Fail(it.status());
}

void DatomCursor::Settle() {
  valid_ = false;
  on_ = On::kNone;
  std::string_view key;
  bool from_history;
  while (status_.ok() && Peek(&key, &from_history)) {
    if (!view_.as_of || view_.history) {
      // Current or history view: every entry stands alone (a history view as of t
      // keeps the events up to t). The tree iterator stays on the entry, so its key
      // need not be copied; Next steps past it.
      Status s = DecodeKey(index_, key, from_history, &datom_);
      if (!s.ok()) {
        Fail(s);
        return;
      }
      if ((view_.since && datom_.tx <= *view_.since) || (view_.as_of && datom_.tx > *view_.as_of)) {
        Step(from_history);
        continue;
      }
      on_ = from_history ? On::kHistory : On::kCurrent;
      valid_ = true;
      return;
    }
    // asOf: the events of one (e, a, v) are adjacent and in tx order; the last one at
    // or before as_of decides whether the datom is visible.
    std::string group(key.substr(0, key.size() - (from_history ? 9 : 8)));
    bool visible = false;
    Datom last;
    while (status_.ok() && Peek(&key, &from_history) &&
           key.size() == group.size() + (from_history ? 9 : 8) &&
           key.compare(0, group.size(), group) == 0) {
      Datom d;
      Status s = DecodeKey(index_, key, from_history, &d);
      if (!s.ok()) {
        Fail(s);
        return;
      }
      Step(from_history);
      if (d.tx <= *view_.as_of) {
        visible = d.added;
        last = std::move(d);
      }
    }
    if (!status_.ok()) return;
    if (!visible) continue;
    if (view_.since && last.tx <= *view_.since) continue;
    datom_ = std::move(last);
    key_.clear();
    EncodeKey(index_, datom_, false, &key_);
    on_ = On::kOwned;
    valid_ = true;
    return;
  }
}

}  // namespace internal

// ---- DatomIterator ----

DatomIterator::DatomIterator() = default;
DatomIterator::~DatomIterator() = default;
DatomIterator::DatomIterator(DatomIterator&&) noexcept = default;
DatomIterator& DatomIterator::operator=(DatomIterator&&) noexcept = default;
DatomIterator::DatomIterator(std::unique_ptr<internal::DatomCursor> c, const Db& db, IndexType index)
    : cursor_(std::move(c)), db_(std::make_unique<Db>(db)), index_(index) {}
Status DatomIterator::SkipTo(const std::vector<Value>& components) {
  if (!Valid()) return Status::Ok();
  DL_ASSIGN_OR_RETURN(std::string target, db_->KeyPrefix(index_, components));
  cursor_->SkipTo(target);
  return cursor_->status();
}
Status DatomIterator::SkipToIds(EntityId first, EntityId second) {
  if (index_ == IndexType::kAvet) return Status::Invalid("SkipToIds needs an eavt, aevt or vaet iterator");
  if (!Valid()) return Status::Ok();
  // The current datom stays if its ids are at or after the target's: compared as
  // numbers where the key starts with e and a, without a key comparison.
  const Datom& d = cursor_->datom();
  if (index_ != IndexType::kVaet) {
    const EntityId x = index_ == IndexType::kEavt ? d.e : d.a, y = index_ == IndexType::kEavt ? d.a : d.e;
    if (x > first || (x == first && y >= second)) return Status::Ok();
  }
  char target[16];
  StoreFixed64BE(StoreFixed64BE(target, first), second);
  cursor_->SkipTo(std::string_view(target, sizeof target));
  return cursor_->status();
}
bool DatomIterator::Valid() const { return cursor_ && cursor_->Valid(); }
void DatomIterator::Next() { cursor_->Next(); }
const Datom& DatomIterator::datom() const { return cursor_->datom(); }
const Status& DatomIterator::status() const {
  static const Status kOk;
  return cursor_ ? cursor_->status() : kOk;
}

// ---- Db ----

Db::Db() = default;

EntityId Db::basis_tx() const { return state_->max_tx; }
const Schema& Db::schema() const { return *state_->schema; }

namespace {
EntityId NormalizeTx(EntityId t) { return t < kTx0 ? kTx0 + t : t; }
}  // namespace

Db Db::AsOf(EntityId tx) const {
  Db d = *this;
  EntityId t = NormalizeTx(tx);
  d.as_of_ = as_of_ ? std::min(*as_of_, t) : t;
  return d;
}

Db Db::Since(EntityId tx) const {
  Db d = *this;
  EntityId t = NormalizeTx(tx);
  d.since_ = since_ ? std::max(*since_, t) : t;
  return d;
}

Db Db::History() const {
  Db d = *this;
  d.history_ = true;
  return d;
}

namespace {
// The newest tx whose :db/txInstant <= millis (kTx0 if none): AVET of :db/txInstant
// is ordered by instant, so it is the entry just before the first one > millis.
Result<EntityId> TxAtInstant(const Db& db, int64_t millis) {
  Db now(db.state());
  DL_ASSIGN_OR_RETURN(DatomIterator it,
                      now.DatomsIter(IndexType::kAvet, {Value::Ref(sys::kTxInstant)}));
  EntityId best = kTx0;
  for (; it.Valid(); it.Next()) {
    if (it.datom().v.instant() > millis) break;
    best = std::max(best, it.datom().e);
  }
  DL_RETURN_IF_ERROR(it.status());
  return best;
}
}  // namespace

Result<Db> Db::AsOfInstant(int64_t millis) const {
  DL_ASSIGN_OR_RETURN(EntityId tx, TxAtInstant(*this, millis));
  return AsOf(tx);
}

Result<Db> Db::SinceInstant(int64_t millis) const {
  DL_ASSIGN_OR_RETURN(EntityId tx, TxAtInstant(*this, millis));
  return Since(tx);
}

Result<EntityId> Db::AttrId(const std::string& ident) const {
  const Attribute* a = schema().AttrByIdent(ident);
  if (!a) return Status::NotFound("unknown attribute :" + ident);
  return a->id;
}

Result<EntityId> Db::Entid(const Value& ref) const {
  switch (ref.type()) {
    case ValueType::kLong:
      if (ref.long_value() <= 0) return Status::Invalid("entity id must be positive: " + ref.ToString());
      return static_cast<EntityId>(ref.long_value());
    case ValueType::kRef:
      return ref.ref();
    case ValueType::kKeyword: {
      auto id = schema().Entid(ref.str());
      if (!id) return Status::NotFound("no entity with :db/ident :" + ref.str());
      return *id;
    }
    case ValueType::kTuple: {
      const auto& t = ref.tuple();
      if (t.size() != 2 || t[0].type() != ValueType::kKeyword)
        return Status::Invalid("lookup ref must be [attribute value]: " + ref.ToString());
      const Attribute* a = schema().AttrByIdent(t[0].str());
      if (!a) return Status::NotFound("lookup ref " + ref.ToString() + ": unknown attribute");
      if (a->unique == Unique::kNone)
        return Status::Invalid("lookup ref " + ref.ToString() + ": attribute :" + a->ident +
                               " is not :db/unique");
      DL_ASSIGN_OR_RETURN(DatomIterator it, DatomsIter(IndexType::kAvet, {Value::Ref(a->id), t[1]}));
      if (it.Valid()) return it.datom().e;
      DL_RETURN_IF_ERROR(it.status());
      return Status::NotFound("lookup ref " + ref.ToString() + " names no entity");
    }
    default:
      return Status::Invalid("not an entity reference: " + ref.ToString());
  }
}

Result<std::string> Db::KeyPrefix(IndexType index, const std::vector<Value>& components) const {
  if (!state_) return Status::Invalid("database is not open");
  if (components.size() > 4) return Status::Invalid("at most 4 index components");
  // Components in index order: which datom field each one is.
  static const char kOrder[kIndexCount][5] = {"eavt", "aevt", "avet", "vaet"};
  const char* order = kOrder[static_cast<int>(index)];
  std::string prefix;
  EntityId attr = 0;
  for (size_t i = 0; i < components.size(); ++i) {
    const Value& c = components[i];
    switch (order[i]) {
      case 'e': {
        DL_ASSIGN_OR_RETURN(EntityId e, Entid(c));
        PutFixed64BE(&prefix, e);
        break;
      }
      case 'a': {
        if (c.type() == ValueType::kKeyword) {
          DL_ASSIGN_OR_RETURN(attr, AttrId(c.str()));
        } else {
          DL_ASSIGN_OR_RETURN(attr, Entid(c));
        }
        PutFixed64BE(&prefix, attr);
        break;
      }
      case 'v': {
        if (index == IndexType::kVaet) {
          DL_ASSIGN_OR_RETURN(EntityId e, Entid(c));
          PutFixed64BE(&prefix, e);
        } else {
          Value v = c;
          // A ref attribute's value may be given as a number or lookup ref.
          const Attribute* a = attr ? schema().Attr(attr) : nullptr;
          if (a && a->is_ref() && c.type() != ValueType::kRef) {
            DL_ASSIGN_OR_RETURN(EntityId e, Entid(c));
            v = Value::Ref(e);
          }
          EncodeValue(v, &prefix);
        }
        break;
      }
      case 't': {
        if (c.type() != ValueType::kLong && c.type() != ValueType::kRef)
          return Status::Invalid("tx component must be a number: " + c.ToString());
        PutFixed64BE(&prefix, NormalizeTx(c.type() == ValueType::kRef ? c.ref() : c.long_value()));
        break;
      }
    }
  }
  return prefix;
}

Result<DatomIterator> Db::Iter(IndexType index, const std::vector<Value>& components,
                               bool bounded) const {
  DL_ASSIGN_OR_RETURN(std::string prefix, KeyPrefix(index, components));
  std::string hi = bounded ? internal::PrefixEnd(prefix) : std::string();
  internal::DatomCursor::View view{as_of_, since_, history_};
  return DatomIterator(std::make_unique<internal::DatomCursor>(state_, index, std::move(prefix),
                                                               std::move(hi), view),
                       *this, index);
}

Result<DatomIterator> Db::DatomsIter(IndexType index, const std::vector<Value>& components) const {
  return Iter(index, components, true);
}

Result<DatomIterator> Db::SeekDatoms(IndexType index, const std::vector<Value>& components) const {
  return Iter(index, components, false);
}

Result<std::vector<Datom>> Db::Datoms(IndexType index, const std::vector<Value>& components) const {
  DL_ASSIGN_OR_RETURN(DatomIterator it, DatomsIter(index, components));
  std::vector<Datom> out;
  for (; it.Valid(); it.Next()) out.push_back(it.datom());
  DL_RETURN_IF_ERROR(it.status());
  return out;
}

Result<std::vector<Datom>> Db::IndexRange(const std::string& attr, const std::optional<Value>& start,
                                          const std::optional<Value>& end) const {
  DL_ASSIGN_OR_RETURN(EntityId a, AttrId(attr));
  const Attribute* at = schema().Attr(a);
  if (!at->in_avet())
    return Status::Invalid("attribute :" + attr + " is not in AVET (:db/index false)");
  std::string lo, hi;
  PutFixed64BE(&lo, a);
  hi = lo;
  if (start) EncodeValue(*start, &lo);
  if (end) EncodeValue(*end, &hi); else hi = internal::PrefixEnd(hi);
  internal::DatomCursor::View view{as_of_, since_, history_};
  internal::DatomCursor c(state_, IndexType::kAvet, lo, hi, view);
  std::vector<Datom> out;
  for (; c.Valid(); c.Next()) out.push_back(c.datom());
  DL_RETURN_IF_ERROR(c.status());
  return out;
}

Result<uint64_t> Db::Count(IndexType index, const std::vector<Value>& components) const {
  if (!state_) return Status::Invalid("database is not open");
  if (components.empty()) return internal::TreeCount(*state_, false, static_cast<int>(index));
  DL_ASSIGN_OR_RETURN(std::string prefix, KeyPrefix(index, components));
  return internal::TreeCountRange(*state_, static_cast<int>(index), prefix, internal::PrefixEnd(prefix));
}

Result<uint64_t> Db::CountRange(IndexType index, const std::vector<Value>& from,
                                const std::vector<Value>& through) const {
  if (!state_) return Status::Invalid("database is not open");
  DL_ASSIGN_OR_RETURN(std::string lo, KeyPrefix(index, from));
  DL_ASSIGN_OR_RETURN(std::string hi, KeyPrefix(index, through));
  hi = internal::PrefixEnd(hi);
  if (!hi.empty() && hi <= lo) return 0;
  return internal::TreeCountRange(*state_, static_cast<int>(index), lo, hi);
}

std::string Db::DatomString(const Datom& d) const {
  const std::string* ident = schema().Ident(d.a);
  std::string out = "[" + std::to_string(d.e) + " " +
                    (ident ? ":" + *ident : std::to_string(d.a)) + " " + d.v.ToString() + " " +
                    std::to_string(d.tx) + " " + (d.added ? "true" : "false") + "]";
  return out;
}

Result<DbStats> Db::Stats() const {
  DbStats s;
  for (int i = 0; i < kIndexCount; ++i) {
    s.datoms[i] = internal::TreeCount(*state_, false, i);
    s.history_datoms[i] = internal::TreeCount(*state_, true, i);
  }
  s.max_eid = state_->max_eid;
  s.max_tx = state_->max_tx;
  return s;
}

}  // namespace datalith
