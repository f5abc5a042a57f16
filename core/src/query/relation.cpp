#include "query/relation.h"

#include <algorithm>

namespace datalith::query {

namespace {

// A chained hash table over the rows of one relation, keyed by some of its columns.
class RowIndex {
 public:
  RowIndex(const Rel& r, std::vector<int> key) : rel_(r), key_(std::move(key)) {
    size_t buckets = 1;
    while (buckets < r.rows * 2) buckets <<= 1;
    mask_ = buckets - 1;
    head_.assign(buckets, kEnd);
    next_.assign(r.rows, kEnd);
    for (size_t i = 0; i < r.rows; ++i) {
      size_t b = HashRow(r.Row(i), key_) & mask_;
      next_[i] = head_[b];
      head_[b] = static_cast<uint32_t>(i);
    }
  }

  // Calls f(row index) for each row whose key equals `probe_cols` of `probe`.
  template <typename F>
  void ForEachMatch(const Value* probe, const std::vector<int>& probe_cols, F&& f) const {
    if (rel_.rows == 0) return;
    size_t b = HashRow(probe, probe_cols) & mask_;
    for (uint32_t i = head_[b]; i != kEnd; i = next_[i]) {
      const Value* row = rel_.Row(i);
      bool eq = true;
      for (size_t k = 0; k < key_.size() && eq; ++k) eq = row[key_[k]] == probe[probe_cols[k]];
      if (eq) f(i);
    }
  }

 private:
  static constexpr uint32_t kEnd = UINT32_MAX;
  const Rel& rel_;
  std::vector<int> key_;
  size_t mask_ = 0;
  std::vector<uint32_t> head_, next_;
};

}  // namespace

Status TooLarge(uint64_t max_rows) {
  return Status::Invalid("query too large: an intermediate result exceeds " +
                         std::to_string(max_rows) +
                         " rows (add clauses that connect the variables, or raise max_rows)");
}

size_t HashRow(const Value* row, const std::vector<int>& cols) {
  uint64_t h = 0x9e3779b97f4a7c15ULL;  // 64-bit mixing in the 32-bit WASM build too
  for (int c : cols) h = (h ^ row[c].Hash()) * 0x100000001b3ULL + (h >> 29);
  return static_cast<size_t>(h ^ (h >> 32));
}

Result<Rel> Join(const Rel& a, const Rel& b, uint64_t max_rows) {
  std::vector<int> ka, kb, b_new;
  for (size_t j = 0; j < b.cols.size(); ++j) {
    int i = a.Col(b.cols[j]);
    if (i >= 0) {
      ka.push_back(i);
      kb.push_back(static_cast<int>(j));
    } else {
      b_new.push_back(static_cast<int>(j));
    }
  }
  Rel out;
  out.cols = a.cols;
  for (int j : b_new) out.cols.push_back(b.cols[j]);
  // Rows are written straight into out.data: a's values, then b's new ones. (Room for as
  // many rows as the smaller side: a key join's usual size; more grows the vector.)
  out.data.reserve(std::min(a.rows, b.rows) * out.cols.size());
  auto emit = [&](const Value* ra, const Value* rb) -> bool {
    if (max_rows && out.rows >= max_rows) return false;
    out.data.insert(out.data.end(), ra, ra + a.width());
    for (int j : b_new) out.data.push_back(rb[j]);
    ++out.rows;
    return true;
  };
  // Index the smaller side, probe with the larger.
  if (a.rows <= b.rows) {
    RowIndex idx(a, ka);
    for (size_t j = 0; j < b.rows; ++j) {
      bool ok = true;
      idx.ForEachMatch(b.Row(j), kb, [&](uint32_t i) { ok = ok && emit(a.Row(i), b.Row(j)); });
      if (!ok) return TooLarge(max_rows);
    }
  } else {
    RowIndex idx(b, kb);
    for (size_t i = 0; i < a.rows; ++i) {
      bool ok = true;
      idx.ForEachMatch(a.Row(i), ka, [&](uint32_t j) { ok = ok && emit(a.Row(i), b.Row(j)); });
      if (!ok) return TooLarge(max_rows);
    }
  }
  return out;
}

Rel AntiJoin(const Rel& a, const Rel& b) {
  std::vector<int> ka, kb;
  for (size_t j = 0; j < b.cols.size(); ++j) {
    int i = a.Col(b.cols[j]);
    if (i >= 0) {
      ka.push_back(i);
      kb.push_back(static_cast<int>(j));
    }
  }
  Rel out;
  out.cols = a.cols;
  RowIndex idx(b, kb);
  for (size_t i = 0; i < a.rows; ++i) {
    bool found = false;
    idx.ForEachMatch(a.Row(i), ka, [&](uint32_t) { found = true; });
    if (!found) out.Add(a.Row(i));
  }
  return out;
}

Rel Project(const Rel& a, const std::vector<VarId>& vars, bool distinct) {
  Rel out;
  out.cols = vars;
  std::vector<int> src;
  for (VarId v : vars) src.push_back(a.Col(v));
  out.data.reserve(a.rows * vars.size());
  for (size_t i = 0; i < a.rows; ++i) {
    const Value* row = a.Row(i);
    for (int c : src) out.data.push_back(row[c]);
  }
  out.rows = a.rows;
  if (distinct) Dedup(&out);
  return out;
}

Rel Project(Rel&& a, const std::vector<VarId>& vars, bool distinct) {
  if (a.cols != vars) return Project(static_cast<const Rel&>(a), vars, distinct);
  // Already these columns in this order: the relation itself, deduplicated in place.
  Rel out = std::move(a);
  if (distinct) Dedup(&out);
  return out;
}

void Dedup(Rel* r) {
  if (r->rows < 2) return;
  const size_t w = r->width();
  if (w == 0) {
    r->rows = 1;
    return;
  }
  std::vector<int> all(w);
  for (size_t i = 0; i < w; ++i) all[i] = static_cast<int>(i);
  // Compacts in place: the distinct rows move to the front, in their first order. The
  // rows kept so far are indexed by hash as they are kept.
  size_t buckets = 1;
  while (buckets < r->rows * 2) buckets <<= 1;
  std::vector<uint32_t> head(buckets, UINT32_MAX), next;
  next.reserve(r->rows);
  Value* data = r->data.data();
  size_t kept = 0;
  for (size_t i = 0; i < r->rows; ++i) {
    Value* row = data + i * w;
    size_t b = HashRow(row, all) & (buckets - 1);
    bool dup = false;
    for (uint32_t k = head[b]; k != UINT32_MAX && !dup; k = next[k]) {
      dup = std::equal(row, row + w, data + k * w);
    }
    if (dup) continue;
    next.push_back(head[b]);
    head[b] = static_cast<uint32_t>(kept);
    if (kept != i) std::move(row, row + w, data + kept * w);
    ++kept;
  }
  r->data.resize(kept * w);
  r->rows = kept;
}

}  // namespace datalith::query
