#include "index/live.h"

#include <algorithm>
#include <cstring>

namespace datalith::index {
size_t LiveRun::LowerBound(std::string_view k, size_t lo, size_t hi) const {
  hi = std::min(hi, size());
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (key(mid) < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

void LiveRun::Reserve(size_t n, size_t bytes) {
  bytes_.reset(new char[bytes]);
  entries_.reserve(n);
}

void LiveRun::AppendRange(const LiveRun& src, size_t b, size_t e) {
  if (b == e) return;
  const uint32_t from = b == 0 ? 0 : src.entries_[b - 1].end;
  const uint32_t len = src.entries_[e - 1].end - from;
  std::memcpy(bytes_.get() + used_, src.bytes_.get() + from, len);
  const uint32_t shift = used_ - from;
  const int64_t base = DeltaBefore(entries_.size()) - src.DeltaBefore(b);
  for (size_t i = b; i < e; ++i) {
    const Entry& x = src.entries_[i];
    entries_.push_back(Entry{x.end + shift, static_cast<int32_t>(x.sum + base), x.present});
  }
  used_ += len;
}

namespace {

// The first index >= from of a key >= k: a step of 1, 2, 4 ... then a binary search,
// so a long stretch below k costs O(log stretch) comparisons and a short one O(1).
size_t Gallop(const LiveRun& r, size_t from, std::string_view k) {
  if (from == r.size() || r.key(from) >= k) return from;
  size_t lo = from, step = 1;  // key(lo) < k
  while (lo + step < r.size() && r.key(lo + step) < k) {
    lo += step;
    step *= 2;
  }
  return r.LowerBound(k, lo + 1, lo + step);  // key(lo + step) >= k, or the end
}

// Runs [first, first + k) (oldest first) as one run: a key in several takes the newest
// one's state and the sum of their changes. Copies stretches of one run at once, up to
// the smallest key of the others (runs of one tree often hold long ones: new entities'
// keys come after all older keys of their attribute).
std::shared_ptr<const LiveRun> MergeRuns(const std::shared_ptr<const LiveRun>* first, size_t k) {
  auto out = std::make_shared<LiveRun>();
  size_t n = 0, bytes = 0;
  for (size_t r = 0; r < k; ++r) {
    n += first[r]->size();
    bytes += first[r]->bytes();
  }
  out->Reserve(n, bytes);
  auto delta = [](const LiveRun& x, size_t i) { return x.DeltaBefore(i + 1) - x.DeltaBefore(i); };
  struct Cursor {
    const LiveRun* run;
    size_t pos;
    std::string_view head;  // run->key(pos), valid while pos < run->size()
    void Move(size_t to) {
      pos = to;
      if (pos < run->size()) head = run->key(pos);
    }
  };
  std::vector<Cursor> cur;  // the runs not yet consumed, oldest first
  cur.reserve(k);
  for (size_t r = 0; r < k; ++r) {
    if (first[r]->size() > 0) cur.push_back(Cursor{first[r].get(), 0, first[r]->key(0)});
  }
  while (!cur.empty()) {
    // The smallest head (`best`: the newest run holding it), how many runs hold it, and
    // the smallest head above it (none: null data).
    size_t best = 0, ties = 1;
    std::string_view second;
    for (size_t r = 1; r < cur.size(); ++r) {
      int c = cur[r].head.compare(cur[best].head);
      if (c < 0) {
        second = cur[best].head;  // the old smallest is the smallest above the new one
        best = r;
        ties = 1;
      } else if (c == 0) {
        best = r;
        ++ties;
      } else if (second.data() == nullptr || cur[r].head < second) {
        second = cur[r].head;
      }
    }
    Cursor& b = cur[best];
    if (ties == 1) {
      size_t stop = second.data() == nullptr ? b.run->size() : Gallop(*b.run, b.pos, second);
      out->AppendRange(*b.run, b.pos, stop);
      b.Move(stop);
    } else {
      const std::string_view low = b.head;
      const bool present = b.run->present(b.pos);
      int64_t sum = 0;
      for (Cursor& c : cur) {
        if (c.head == low) {
          sum += delta(*c.run, c.pos);
          c.Move(c.pos + 1);
        }
      }
      out->Add(low, present, sum);
    }
    if (b.pos == b.run->size() || ties > 1) {
      cur.erase(std::remove_if(cur.begin(), cur.end(), [](const Cursor& c) { return c.pos == c.run->size(); }),
                cur.end());
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<const Live> Live::Append(const Live* old, const KeyEdit* begin, const KeyEdit* end) {
  auto out = std::make_shared<Live>();
  if (old) {
    out->runs_ = old->runs_;
    out->delta_ = old->delta_;
  }
  auto run = std::make_shared<LiveRun>();
  size_t bytes = 0;
  for (const KeyEdit* e = begin; e != end; ++e) bytes += e->key.size();
  run->Reserve(static_cast<size_t>(end - begin), bytes);
  for (const KeyEdit* e = begin; e != end; ++e) run->Add(e->key, e->insert, e->insert ? 1 : -1);
  out->delta_ += run->DeltaBefore(run->size());
  out->runs_.push_back(std::move(run));
  auto& runs = out->runs_;
  for (;;) {
    const size_t n = runs.size();
    if (n < kMergeWays) break;
    size_t newer = 0;  // entries of the newest kMergeWays - 1 runs
    for (size_t r = n - kMergeWays + 1; r < n; ++r) newer += runs[r]->size();
    if (2 * runs[n - kMergeWays]->size() > newer) break;
    std::shared_ptr<const LiveRun> merged = MergeRuns(&runs[n - kMergeWays], kMergeWays);
    runs.resize(n - kMergeWays + 1);
    runs.back() = std::move(merged);
  }
  for (const auto& r : runs) {
    out->size_ += r->size();
    out->bytes_ += r->bytes();
  }
  return out;
}

bool Live::Fills(const KeyEdit* begin, const KeyEdit* end) {
  size_t bytes = 0;
  for (const KeyEdit* e = begin; e != end; ++e) bytes += e->key.size();
  return static_cast<size_t>(end - begin) >= kFoldAt || bytes >= kFoldBytes;
}

int64_t Live::DeltaIn(std::string_view lo, std::string_view hi) const {
  int64_t sum = 0;
  for (const auto& r : runs_) {
    size_t b = r->LowerBound(lo);
    size_t e = hi.empty() ? r->size() : r->LowerBound(hi, b);
    sum += r->DeltaBefore(e) - r->DeltaBefore(b);
  }
  return sum;
}

Result<Child> Fold(NodeSource& src, const Child& root, const Live& live) {
  // The runs as one (each key's newest edit), then one batch.
  const auto& runs = live.runs();
  std::shared_ptr<const LiveRun> all = runs.size() == 1 ? runs.front() : MergeRuns(runs.data(), runs.size());
  std::vector<KeyEdit> edits;
  edits.reserve(all->size());
  for (size_t i = 0; i < all->size(); ++i) edits.push_back({all->key(i), all->present(i)});
  return Apply(src, root, edits.data(), edits.data() + edits.size());
}

LiveIterator::LiveIterator(NodeSource* src, Child root, std::shared_ptr<const Live> live)
    : tree_(src, std::move(root)) {
  if (live && live->size() > 0) {
    live_ = std::move(live);
    pos_.assign(live_->runs().size(), 0);
  }
}

void LiveIterator::Seek(std::string_view target) {
  tree_.Seek(target);
  if (!live_) return;
  const auto& runs = live_->runs();
  for (size_t r = 0; r < runs.size(); ++r) pos_[r] = runs[r]->LowerBound(target);
  SettleRuns();
  Settle();
}

void LiveIterator::SeekForward(std::string_view target) {
  if (!live_) {
    tree_.SeekForward(target);
    return;
  }
  if (!valid_ || key() >= target) return;
  tree_.SeekForward(target);
  const auto& runs = live_->runs();
  for (size_t r = 0; r < runs.size(); ++r) pos_[r] = runs[r]->LowerBound(target, pos_[r]);
  SettleRuns();
  Settle();
}

void LiveIterator::Next() {
  if (!live_) {
    tree_.Next();
    return;
  }
  if (!valid_) return;
  if (from_tree_) tree_.Next();
  if (from_live_) AdvanceRuns();
  Settle();
}

void LiveIterator::AdvanceRuns() {
  const auto& runs = live_->runs();
  for (size_t r = 0; r < runs.size(); ++r) {
    if (pos_[r] < runs[r]->size() && runs[r]->key(pos_[r]) == live_key_) ++pos_[r];
  }
  SettleRuns();
}

void LiveIterator::SettleRuns() {
  runs_valid_ = false;
  const auto& runs = live_->runs();
  for (size_t r = 0; r < runs.size(); ++r) {
    if (pos_[r] == runs[r]->size()) continue;
    std::string_view k = runs[r]->key(pos_[r]);
    int c = runs_valid_ ? k.compare(live_key_) : -1;
    if (c <= 0) {  // a newer run holding the same key decides its state
      live_key_ = k;
      live_present_ = runs[r]->present(pos_[r]);
      runs_valid_ = true;
    }
  }
}

void LiveIterator::Settle() {
  valid_ = false;
  while (tree_.status().ok()) {
    bool tree_valid = tree_.Valid();
    int c = !runs_valid_ ? 1 : tree_valid ? live_key_.compare(tree_.key()) : -1;
    if (c > 0) {  // the tree's key comes first (or the runs are done)
      if (!tree_valid) return;
      from_tree_ = true;
      from_live_ = false;
      valid_ = true;
      return;
    }
    if (live_present_) {
      from_live_ = true;
      from_tree_ = c == 0;
      valid_ = true;
      return;
    }
    // Removed by the live index: skip it in the tree and the runs.
    if (c == 0) tree_.Next();
    AdvanceRuns();
  }
}

}  // namespace datalith::index
