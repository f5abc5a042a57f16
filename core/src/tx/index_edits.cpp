// The end of a transaction: its datoms as sorted edits of the index trees (keys written
// by db/keys.h), applied to make the new roots, and the transaction's report.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "db/keys.h"
#include "db/tx_log.h"
#include "tx/transactor_impl.h"
#include "util/varint.h"

namespace datalith::internal::tx {
namespace {

// Sorts `v` by `less`: insertion sort while the input is nearly in order (datoms
// mostly arrive in entity order, with values of one attribute shuffled), switching to
// std::sort once it has moved more than a few elements per entry.
template <class T, class Less>
void SortMostlySorted(T* v, size_t n, Less less) {
  size_t budget = 4 * n + 64;
  for (size_t i = 1; i < n; ++i) {
    if (!less(v[i], v[i - 1])) continue;
    T x = v[i];
    size_t j = i;
    while (j > 0 && less(x, v[j - 1])) {
      v[j] = v[j - 1];
      --j;
      if (--budget == 0) break;
    }
    v[j] = x;
    if (budget == 0) {
      std::sort(v, v + n, less);
      return;
    }
  }
}

// The same for items whose first field k0 (an attribute id) takes few values: a stable
// bucket pass by k0 first, then each bucket on its own.
template <class T, class Less>
void SortByAttribute(std::vector<T>* v, Less less) {
  // A small transaction's few items: not worth the buckets' allocations.
  if (v->size() <= 64) return SortMostlySorted(v->data(), v->size(), less);
  std::vector<uint64_t> ids;
  for (const T& x : *v) {
    if (ids.empty() || ids.back() != x.k0) {
      if (std::find(ids.begin(), ids.end(), x.k0) == ids.end()) ids.push_back(x.k0);
      if (ids.size() > 64) return SortMostlySorted(v->data(), v->size(), less);
    }
  }
  std::sort(ids.begin(), ids.end());
  std::vector<size_t> start(ids.size() + 1, 0);
  auto bucket = [&](uint64_t id) {
    return static_cast<size_t>(std::lower_bound(ids.begin(), ids.end(), id) - ids.begin());
  };
  for (const T& x : *v) ++start[bucket(x.k0) + 1];
  for (size_t b = 1; b <= ids.size(); ++b) start[b] += start[b - 1];
  if (ids.size() > 1) {
    std::vector<T> out(v->size());
    std::vector<size_t> at(start.begin(), start.end() - 1);
    for (const T& x : *v) out[at[bucket(x.k0)]++] = x;
    v->swap(out);
  }
  for (size_t b = 0; b < ids.size(); ++b)
    SortMostlySorted(v->data() + start[b], start[b + 1] - start[b], less);
}

}  // namespace

Result<TxOutput> Transactor::Finish() {
  // The tx entity and its instant (monotonic per database).
  const Attribute& inst = *schema_->Attr(sys::kTxInstant);
  int64_t instant = std::max(now_, before_->last_instant);
  std::vector<const Datom*> given = adds_.WithEa(tx_, sys::kTxInstant);
  if (!given.empty()) {
    instant = given[0]->v.instant();
    if (instant < before_->last_instant)
      return Status::Invalid(":db/txInstant " + given[0]->v.ToString() +
                             " is before the previous transaction's");
  } else {
    DL_RETURN_IF_ERROR(Add(tx_, inst, Value::Instant(instant), nullptr));
  }

  auto after = std::make_shared<DbState>(*before_);
  after->schema = schema_;
  after->max_tx = tx_;
  after->max_eid = std::max(before_->max_eid, next_eid_ - 1);
  after->last_instant = instant;
  after->commit = Address();

  TxOutput out;
  // Every datom of the tx, retractions (carrying the tx that asserted them) and
  // assertions, and the indices it goes to.
  struct Entry {
    Datom* d;
    bool add;
    bool avet;  // in AVET
    bool keep;  // a retraction recorded in history
  };
  std::vector<Entry> entries;
  entries.reserve(retracts_.size() + adds_.size());
  EntityId cached_id = 0;
  const Attribute* cached = nullptr;
  auto attr_of = [&](EntityId id) {
    if (id != cached_id || !cached) {
      cached_id = id;
      cached = schema_->Attr(id);
    }
    return cached;
  };
  retracts_.ForEach([&](Datom& d) {
    const Attribute* a = schema_->Attr(d.a);
    if (!a) a = before_->schema->Attr(d.a);
    bool keep = before_->keep_history && !(a && a->no_history);
    // If this tx took the attribute out of AVET, its datoms are still there to remove
    // (the reindex pass below moves the rest).
    if (reindex_.count(d.a)) a = nullptr;
    entries.push_back(Entry{&d, false, !a || a->in_avet(), keep});
  });
  adds_.ForEach([&](Datom& d) {
    const Attribute* a = attr_of(d.a);
    entries.push_back(Entry{&d, true, !a || a->in_avet(), false});
  });
  // Each value encoded once; keys of all four orders are assembled from it.
  const uint32_t n = static_cast<uint32_t>(entries.size());
  std::string vals;
  vals.reserve(16 * size_t{n});  // most values encode in fewer bytes
  std::vector<uint32_t> voff(n + 1);
  for (uint32_t i = 0; i < n; ++i) {
    voff[i] = static_cast<uint32_t>(vals.size());
    EncodeValue(entries[i].d->v, &vals);
  }
  voff[n] = static_cast<uint32_t>(vals.size());
  auto vview = [&](uint32_t i) { return std::string_view(vals.data() + voff[i], voff[i + 1] - voff[i]); };
  // The first 16 bytes of each value's encoding as two big-endian, zero-padded
  // integers: ordering by them agrees with memcmp on the full encodings unless they
  // are equal; then two encodings of at most 16 bytes order by length (the shorter is
  // a prefix of the other), longer ones by their bytes. Computed once per datom, for
  // every order that sorts by value.
  std::vector<uint64_t> heads(2 * size_t{n});
  for (uint32_t i = 0; i < n; ++i) {
    unsigned char b[16] = {};
    std::memcpy(b, vals.data() + voff[i], std::min<size_t>(16, voff[i + 1] - voff[i]));
    for (int w = 0; w < 2; ++w) {
      uint64_t x = 0;
      for (int j = 0; j < 8; ++j) x = (x << 8) | b[8 * w + j];
      heads[2 * i + w] = x;
    }
  }
  auto head = [&](uint32_t i, int word) { return heads[2 * i + word]; };
  // Index edits must be sorted by key. Sorting works on the key's fields (integers
  // first, value bytes only on ties) and skips orders the datoms already come in; a
  // datom is never both asserted and retracted, so keys are unique per tree.
  // Carries what building a key needs besides the value bytes, so that pass does not
  // chase datoms in sorted (that is, random) order.
  struct SortKey {
    uint64_t k0, k1, k2, k3;
    uint32_t i;
    uint32_t vlen;
    bool add;
    bool keep;
  };
  auto vtie = [&](const SortKey& x, const SortKey& y) {  // values whose heads are equal
    if (x.vlen <= 16 && y.vlen <= 16) return x.vlen < y.vlen ? -1 : x.vlen > y.vlen ? 1 : 0;
    return vview(x.i).compare(vview(y.i));
  };
  std::vector<SortKey> order;
  order.reserve(n);
  std::vector<uint32_t> eavt_order;
  std::string cb, hb;  // key bytes of one tree's edits, reused tree after tree
  std::vector<index::KeyEdit> cur, hist;
  for (int ix = 0; ix < kIndexCount; ++ix) {
    const IndexType type = static_cast<IndexType>(ix);
    order.clear();
    for (uint32_t i = 0; i < n; ++i) {
      const Entry& en = entries[i];
      const Datom& d = *en.d;
      uint32_t vlen = voff[i + 1] - voff[i];
      switch (type) {
        case IndexType::kEavt:
          order.push_back(SortKey{d.e, d.a, head(i, 0), head(i, 1), i, vlen, en.add, en.keep});
          break;
        case IndexType::kAevt:
          order.push_back(SortKey{d.a, d.e, head(i, 0), head(i, 1), i, vlen, en.add, en.keep});
          break;
        case IndexType::kAvet:
          if (en.avet) order.push_back(SortKey{d.a, head(i, 0), head(i, 1), d.e, i, vlen, en.add, en.keep});
          break;
        case IndexType::kVaet:
          if (d.v.type() == ValueType::kRef)
            order.push_back(SortKey{d.v.ref(), d.a, d.e, 0, i, vlen, en.add, en.keep});
          break;
      }
    }
    if (order.empty()) continue;
    auto less = [&](const SortKey& x, const SortKey& y) {
      if (x.k0 != y.k0) return x.k0 < y.k0;
      if (x.k1 != y.k1) return x.k1 < y.k1;
      if (x.k2 != y.k2) return x.k2 < y.k2;
      if (type == IndexType::kAvet) {  // a v e: all of the value before e
        int c = vtie(x, y);
        if (c != 0) return c < 0;
        return x.k3 < y.k3;
      }
      if (x.k3 != y.k3) return x.k3 < y.k3;
      return type != IndexType::kVaet && vtie(x, y) < 0;
    };
    if (type == IndexType::kAevt || type == IndexType::kAvet) {
      SortByAttribute(&order, less);
    } else {
      SortMostlySorted(order.data(), order.size(), less);
    }
    if (type == IndexType::kEavt) {
      eavt_order.reserve(order.size());
      for (const SortKey& k : order) eavt_order.push_back(k.i);
    }
    // Keys go back to back into one buffer per tree, reserved up front so the views
    // stay valid.
    size_t cur_bytes = 0, hist_bytes = 0, hist_count = 0;
    for (const SortKey& k : order) {
      cur_bytes += KeySize(type, k.vlen, false);
      if (!k.add && k.keep) {
        hist_bytes += 2 * KeySize(type, k.vlen, true);
        hist_count += 2;
      }
    }
    cur.clear();
    hist.clear();
    // Sized exactly, then written through pointers (no per-field string calls).
    cb.resize(cur_bytes);
    hb.resize(hist_bytes);
    cur.reserve(order.size());
    hist.reserve(hist_count);
    // The datom's fields back from the sort fields (e a v / a e v / a v e / v a e), for
    // the key writer; `type` is fixed in this loop, so these are plain loads.
    const bool a_first = type == IndexType::kAevt || type == IndexType::kAvet;
    auto e_of = [&](const SortKey& k) {
      return type == IndexType::kEavt ? k.k0
             : type == IndexType::kAevt ? k.k1
             : type == IndexType::kAvet ? k.k3
                                        : k.k2;
    };
    char* cw = cb.data();
    char* hw = hb.data();
    auto edit = [](const char* from, const char* to, bool insert) {
      return index::KeyEdit{std::string_view(from, static_cast<size_t>(to - from)), insert};
    };
    for (const SortKey& k : order) {
      EntityId tx = k.add ? tx_ : entries[k.i].d->tx;  // a retraction names its assertion's tx
      const EntityId e = e_of(k), a = a_first ? k.k0 : k.k1, ref = k.k0;  // ref: VAET only
      const std::string_view v = vview(k.i);
      char* at = cw;
      cw = WriteKey(cw, type, e, a, v, ref, tx);
      cur.push_back(edit(at, cw, k.add));
      if (!k.add && k.keep) {
        // History: the assertion (its own tx) and this retraction (tx_), in that order.
        at = hw;
        hw = WriteHistoryKey(hw, type, e, a, v, ref, tx, true);
        hist.push_back(edit(at, hw, true));
        at = hw;
        hw = WriteHistoryKey(hw, type, e, a, v, ref, tx_, false);
        hist.push_back(edit(at, hw, true));
      }
    }
    if (cw != cb.data() + cb.size() || hw != hb.data() + hb.size())
      return Status::Internal("transaction: index keys do not fill their buffer");
    out.key_bytes += cb.size() + hb.size();
    for (auto* edits : {&cur, &hist}) {
      if (edits->empty()) continue;
      // The order above is byte order by construction; check it (cheap, linear) and
      // fall back to a plain sort rather than hand a tree unsorted edits.
      auto by_key = [](const index::KeyEdit& x, const index::KeyEdit& y) { return x.key < y.key; };
      if (!std::is_sorted(edits->begin(), edits->end(), by_key))
        std::sort(edits->begin(), edits->end(), by_key);
      DL_RETURN_IF_ERROR(AddEdits(after.get(), edits == &hist, ix, edits->data(),
                                  edits->data() + edits->size()));
    }
  }
  // The log record (db/tx_log.h), then the report's datoms, both in EAVT order (which
  // is (e, a, v) order, as asserted and retracted datoms never coincide).
  // Room for the record as most transactions make it (it is kept until the next flush,
  // so not more): each datom's ids, flag and value length in about 8 bytes, its value.
  out.log_record.reserve(3 * kMaxVarint + vals.size() + 8 * eavt_order.size());
  LogRecordWriter log(&out.log_record, tx_, after->max_eid, eavt_order.size());
  for (uint32_t i : eavt_order) {
    const Datom& d = *entries[i].d;
    log.Add(d.e, d.a, entries[i].add, d.tx, vview(i));
  }
  out.tx_data.reserve(eavt_order.size());
  for (uint32_t i : eavt_order) {
    Datom& d = *entries[i].d;
    if (entries[i].add) {
      out.tx_data.push_back(std::move(d));
    } else {
      out.tx_data.push_back(Datom{d.e, d.a, std::move(d.v), tx_, false});
    }
  }
  // Attributes whose AVET membership changed (:db/index, :db/unique): move their
  // current and history datoms in or out of AVET (reading and writing the trees).
  if (!reindex_.empty()) DL_RETURN_IF_ERROR(FoldLive(after.get()));
  for (EntityId attr : reindex_) {
    bool on = schema_->Attr(attr)->in_avet();
    std::string lo;
    PutFixed64BE(&lo, attr);
    std::string hi = PrefixEnd(lo);
    for (bool hist : {false, true}) {
      int aevt = static_cast<int>(IndexType::kAevt), avet = static_cast<int>(IndexType::kAvet);
      index::Iterator it(after->src.get(), hist ? after->history[aevt] : after->current[aevt]);
      std::vector<index::Edit> edits;
      for (it.Seek(lo); it.Valid() && it.key() < std::string_view(hi); it.Next()) {
        Datom d;
        DL_RETURN_IF_ERROR(DecodeKey(IndexType::kAevt, it.key(), hist, &d));
        std::string key;
        EncodeKey(IndexType::kAvet, d, hist, &key);
        out.key_bytes += key.size();
        edits.push_back({std::move(key), on});
      }
      DL_RETURN_IF_ERROR(it.status());
      if (edits.empty()) continue;
      index::SortEdits(&edits);
      index::Child& root = hist ? after->history[avet] : after->current[avet];
      DL_ASSIGN_OR_RETURN(root, index::Apply(*after->src, root, edits));
    }
  }
  out.tempids = ReportedTempids();
  out.tx = tx_;
  out.after = std::move(after);
  return out;
}

// The tempids as the caller sees them: with "datomic.tx", without the generated ones.
std::map<std::string, EntityId> Transactor::ReportedTempids() const {
  std::map<std::string, EntityId> out;
  for (const auto& [name, id] : tempids_) {
    if (!name.empty() && name[0] == '\x01') continue;  // generated for maps without :db/id
    out[name] = id;
  }
  out[kTxTempid] = tx_;
  return out;
}

}  // namespace datalith::internal::tx
