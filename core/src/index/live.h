// The live index of a tree: key edits made since the tree was last rebuilt, kept in a
// few sorted in-memory runs instead of being applied to the tree one transaction at a
// time (docs/design.md, "A live index per tree"). A tree's value is its root with its live
// index merged over it; `Fold` applies the live edits to the root in one batch.
//
// Runs and live indices are immutable once built: appending makes a new `Live` that
// shares the older runs, so every snapshot keeps the runs it was made with and readers
// on other threads never see a run change.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "index/btree.h"

namespace datalith::index {

// Sorted, unique keys, each with its state after the run's edits (present or removed)
// and the change in the tree's entry count those edits made.
class LiveRun {
 public:
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return entries_.empty() ? 0 : entries_.back().end; }  // of all keys
  std::string_view key(size_t i) const {
    uint32_t b = i == 0 ? 0 : entries_[i - 1].end;
    return std::string_view(bytes_.get() + b, entries_[i].end - b);
  }
  bool present(size_t i) const { return entries_[i].present; }
  // Index of the first key >= k among [lo, hi) (hi if none; SIZE_MAX: size()).
  size_t LowerBound(std::string_view k, size_t lo = 0, size_t hi = SIZE_MAX) const;
  // The entry-count change of entries [0, i).
  int64_t DeltaBefore(size_t i) const { return i == 0 ? 0 : entries_[i - 1].sum; }

  // Building, before the run is shared: once, on an empty run, room for n keys of
  // `bytes` in all; then the keys in ascending order, each with its state and count
  // change.
  void Reserve(size_t n, size_t bytes);
  void Add(std::string_view key, bool present, int64_t delta) {
    std::memcpy(bytes_.get() + used_, key.data(), key.size());
    used_ += key.size();
    entries_.push_back(Entry{used_, static_cast<int32_t>(DeltaBefore(entries_.size()) + delta), present});
  }
  // Adds entries [b, e) of `src` (keys above this run's), copying their bytes at once.
  void AppendRange(const LiveRun& src, size_t b, size_t e);

 private:
  struct Entry {
    uint32_t end;  // of the key's bytes
    int32_t sum;   // the count change of the entries up to this one
    bool present;
  };
  // Sized by Reserve, uninitialised (every byte is copied in before it is read); the
  // keys fill [0, used_).
  std::unique_ptr<char[]> bytes_;
  uint32_t used_ = 0;
  std::vector<Entry> entries_;
};

class Live {
 public:
  // Fold a live index into its tree once it holds this many entries, or this many
  // bytes of keys (large values: the runs must not hold more than a tree's worth).
  static constexpr size_t kFoldAt = 4096;
  static constexpr size_t kFoldBytes = 16 << 20;

  // Appending merges the newest this many runs into one (in one pass) when the oldest of
  // them holds at most half as many entries as the others together.
  static constexpr size_t kMergeWays = 4;

  // `old` (may be null) with `edits` (sorted, unique keys) as its newest run. Each edit
  // must change the tree as merged with `old`: an insert of an absent key or the
  // removal of a present one (what the transactor makes), so that counts stay exact.
  // Runs are merged kMergeWays at a time (above): going kMergeWays runs back from the
  // newest at least doubles the entries, so a live index of n entries has at most
  // about kMergeWays * log2(n) runs (simulating one-entity transactions: 5, at most 11),
  // and an entry is copied about 5 times before it is folded (9-10 merging by pairs).
  static std::shared_ptr<const Live> Append(const Live* old, const KeyEdit* begin,
                                            const KeyEdit* end);

  size_t size() const { return size_; }  // entries over all runs
  size_t bytes() const { return bytes_; }  // of their keys
  bool Full() const { return size_ >= kFoldAt || bytes_ >= kFoldBytes; }
  // Whether `edits` alone would fill a live index (a bulk load: they go to the tree).
  static bool Fills(const KeyEdit* begin, const KeyEdit* end);
  int64_t delta() const { return delta_; }  // the change in the tree's entry count
  // The change in the number of keys k with lo <= k < hi (an empty hi: no bound).
  int64_t DeltaIn(std::string_view lo, std::string_view hi) const;
  const std::vector<std::shared_ptr<const LiveRun>>& runs() const { return runs_; }  // never empty

 private:
  std::vector<std::shared_ptr<const LiveRun>> runs_;  // oldest (largest) first
  size_t size_ = 0;
  size_t bytes_ = 0;
  int64_t delta_ = 0;
};

// `root` with every edit of `live` applied as one batch.
Result<Child> Fold(NodeSource& src, const Child& root, const Live& live);

// Iterates a tree merged with its live index (null: the tree alone): the interface of
// `Iterator`. A key the live index removed is skipped; one it holds is read from it.
class LiveIterator {
 public:
  LiveIterator(NodeSource* src, Child root, std::shared_ptr<const Live> live);

  void Seek(std::string_view target);
  // Moves forward to the first key >= `target`, never back (see Iterator).
  void SeekForward(std::string_view target);
  bool Valid() const { return live_ ? valid_ : tree_.Valid(); }
  void Next();
  std::string_view key() const { return !live_ || !from_live_ ? tree_.key() : live_key_; }
  const Status& status() const { return tree_.status(); }

 private:
  // Positions the runs' cursor on its smallest key (newest run deciding its state).
  void SettleRuns();
  // Moves every run holding the runs' current key past it, then SettleRuns().
  void AdvanceRuns();
  // Positions on the next key present in the merged view.
  void Settle();

  Iterator tree_;
  std::shared_ptr<const Live> live_;
  std::vector<size_t> pos_;  // per run
  bool runs_valid_ = false;
  std::string_view live_key_;
  bool live_present_ = false;
  bool valid_ = false;
  bool from_live_ = false;  // the current key is the runs'
  bool from_tree_ = false;  // the current key is (also) the tree's
};

}  // namespace datalith::index
