#include "index/btree.h"

#include <algorithm>
#include <map>

namespace datalith::index {
namespace {

// Entries of one branch level being rebuilt: first keys and children. Each key views
// bytes of a node that a child of the run (or the node being rebuilt, which the caller
// holds) keeps alive.
struct Run {
  uint8_t level = 0;
  std::vector<std::string_view> keys;
  std::vector<Child> children;

  size_t size() const { return keys.size(); }
  void Append(const NodePtr& node) {
    Keys k = node->keys();
    for (size_t i = 0; i < node->size(); ++i) {
      keys.push_back(k[i]);
      children.push_back(node->children()[i]);
    }
  }
};

size_t MaxEntries(uint8_t level) { return level == 0 ? kMaxLeaf : kMaxBranch; }
size_t MinEntries(uint8_t level) { return MaxEntries(level) / 4; }

// Calls emit(begin, end) for the nodes that hold n entries, each at most `max`.
// Balanced, unless the entries were appended after the old node's last one (new
// entity ids, new transactions): then nodes are filled up and only the last keeps the
// minimum (a quarter of `max`), so a large append leaves full nodes and one-by-one
// appends leave nodes 3/4 full instead of half.
template <class Emit>
void Split(size_t n, size_t max, bool append, Emit&& emit) {
  if (n == 0) return;
  if (append) {
    size_t begin = 0;
    while (n - begin > max) {
      size_t take = std::min(max, n - begin - max / 4);
      emit(begin, begin + take);
      begin += take;
    }
    emit(begin, n);
    return;
  }
  size_t parts = (n + max - 1) / max;
  for (size_t p = 0, begin = 0; p < parts; ++p) {
    size_t end = n * (p + 1) / parts;
    emit(begin, end);
    begin = end;
  }
}

NodePtr MakeNode(const Run& run, size_t begin, size_t end) {
  size_t bytes = 0;
  for (size_t i = begin; i < end; ++i) bytes += run.keys[i].size();
  NodeBuilder b(run.level, end - begin, bytes);
  Child* kids = b.children();
  for (size_t i = begin; i < end; ++i) {
    b.Add(run.keys[i]);
    kids[i - begin] = run.children[i];
  }
  return b.Finish();
}

// Splits a branch run into nodes of at most MaxEntries each.
void Chunk(const Run& run, bool append, std::vector<NodePtr>* out) {
  Split(run.size(), MaxEntries(run.level), append,
        [&](size_t b, size_t e) { out->push_back(MakeNode(run, b, e)); });
}

// Leaves holding `keys`, each at most kMaxLeaf keys.
void EmitLeaves(Keys keys, bool append, std::vector<NodePtr>* out) {
  Split(keys.size(), kMaxLeaf, append, [&](size_t b, size_t e) {
    NodeBuilder leaf(0, e - b, keys.begin_of(e) - keys.begin_of(b));
    leaf.AppendRange(keys, b, e);
    out->push_back(leaf.Finish());
  });
}

Child Ref(const NodePtr& node) { return Child{node, Address(), node->count}; }

Status ApplyNode(NodeSource& src, const NodePtr& node, const KeyEdit* b, const KeyEdit* e,
                 std::vector<NodePtr>* out);

// Merges the edits into the leaf's keys, copying the untouched stretches of key bytes
// in one piece each. A first pass finds where each edit lands; when the result fits
// one leaf it is built in place, else it is merged into a buffer and split.
Status ApplyLeaf(const NodePtr& node, const KeyEdit* b, const KeyEdit* e, std::vector<NodePtr>* out) {
  Keys old = node ? node->keys() : Keys();
  size_t n = old.size();
  size_t m = static_cast<size_t>(e - b);
  struct Spot {
    uint32_t at;    // old keys before this edit's key
    bool present;   // old[at] is this edit's key
  };
  thread_local std::vector<Spot> spots;
  spots.resize(m);
  bool search = m * 8 < n;  // few edits: binary search for each; many: walk
  size_t i = 0, count = n, bytes = old.bytes();
  bool append = n > 0;  // every edit inserts after the old last key
  for (size_t k = 0; k < m; ++k) {
    const KeyEdit& ed = b[k];
    size_t j = i;
    if (search) {
      j = old.LowerBound(ed.key, i, n);
    } else {
      while (j < n && old[j] < ed.key) ++j;
    }
    bool present = j < n && old[j] == ed.key;
    spots[k] = Spot{static_cast<uint32_t>(j), present};
    if (present) {
      --count;
      bytes -= ed.key.size();
    }
    if (ed.insert) {
      ++count;
      bytes += ed.key.size();
    }
    append = append && ed.insert && j == n;
    i = present ? j + 1 : j;
  }
  auto merge = [&](auto& into) {
    size_t at = 0;
    for (size_t k = 0; k < m; ++k) {
      into.AppendRange(old, at, spots[k].at);
      at = spots[k].present ? spots[k].at + 1 : spots[k].at;
      if (b[k].insert) into.Add(b[k].key);
    }
    into.AppendRange(old, at, n);
  };
  if (count == 0) return Status::Ok();
  if (count <= kMaxLeaf) {
    NodeBuilder leaf(0, count, bytes);
    merge(leaf);
    out->push_back(leaf.Finish());
    return Status::Ok();
  }
  thread_local KeyList merged;
  merged.Clear();
  merged.Reserve(count, bytes);
  merge(merged);
  EmitLeaves(merged.view(), append, out);
  return Status::Ok();
}

// Index of the child whose key range holds `k`.
size_t ChildFor(const Node& node, std::string_view k) {
  size_t ci = node.keys().UpperBound(k);
  return ci > 0 ? ci - 1 : 0;
}

// A copy of branch `node` with child changed[i].first replaced by kids[i] (in
// ascending child order): one allocation, the untouched keys copied in stretches.
NodePtr ReplaceChildren(const Node& node, const std::vector<std::pair<size_t, size_t>>& changed,
                        const std::vector<NodePtr>& kids) {
  Keys keys = node.keys();
  size_t bytes = keys.bytes();
  for (size_t i = 0; i < kids.size(); ++i)
    bytes += kids[i]->keys()[0].size() - keys[changed[i].first].size();
  NodeBuilder b(node.level, node.size(), bytes);
  Child* out = b.children();
  std::span<const Child> old = node.children();
  size_t at = 0;
  for (size_t i = 0; i < kids.size(); ++i) {
    size_t ci = changed[i].first;
    b.AppendRange(keys, at, ci);
    b.Add(kids[i]->keys()[0]);
    at = ci + 1;
  }
  b.AppendRange(keys, at, node.size());
  for (size_t ci = 0, i = 0; ci < old.size(); ++ci) {
    if (i < kids.size() && changed[i].first == ci) {
      out[ci] = Ref(kids[i++]);
    } else {
      out[ci] = old[ci];
    }
  }
  return b.Finish();
}

Status ApplyBranch(NodeSource& src, const NodePtr& node, const KeyEdit* b, const KeyEdit* e,
                   std::vector<NodePtr>* out) {
  // Recurse into each child that has edits, visiting only those children.
  Keys keys = node->keys();
  std::vector<NodePtr> rebuilt;
  std::vector<std::pair<size_t, size_t>> changed;  // (child index, end of its nodes in rebuilt)
  for (const KeyEdit* cur = b; cur != e;) {
    size_t ci = ChildFor(*node, cur->key);
    const KeyEdit* stop = e;
    if (ci + 1 < node->size()) {
      std::string_view next = keys[ci + 1];
      stop = std::lower_bound(cur, e, next,
                              [](const KeyEdit& ed, std::string_view k) { return ed.key < k; });
    }
    DL_ASSIGN_OR_RETURN(NodePtr child, src.Resolve(node->children()[ci]));
    DL_RETURN_IF_ERROR(ApplyNode(src, child, cur, stop, &rebuilt));
    changed.emplace_back(ci, rebuilt.size());
    cur = stop;
  }
  // The common small transaction: each changed child came back as one node of legal
  // size. Copy this branch with them swapped in instead of rebuilding the run.
  if (rebuilt.size() == changed.size()) {
    bool legal = true;
    for (const NodePtr& kid : rebuilt) legal = legal && kid->size() >= MinEntries(kid->level);
    if (legal || node->size() == 1) {
      out->push_back(ReplaceChildren(*node, changed, rebuilt));
      return Status::Ok();
    }
  }
  // Appending: only the last child changed, and it grew into several.
  bool append = changed.size() == 1 && changed[0].first + 1 == node->size();
  Run run;
  run.level = node->level;
  run.keys.reserve(node->size() + rebuilt.size());
  run.children.reserve(node->size() + rebuilt.size());
  std::vector<bool> fresh;  // parallel to run: rebuilt by this call (may be underfull)
  fresh.reserve(node->size() + rebuilt.size());
  size_t next_changed = 0, r = 0;
  std::span<const Child> children = node->children();
  for (size_t ci = 0; ci < node->size(); ++ci) {
    if (next_changed < changed.size() && changed[next_changed].first == ci) {
      for (size_t end = changed[next_changed++].second; r < end; ++r) {
        run.keys.push_back(rebuilt[r]->keys()[0]);
        run.children.push_back(Ref(rebuilt[r]));
        fresh.push_back(true);
      }
      continue;
    }
    run.keys.push_back(keys[ci]);
    run.children.push_back(children[ci]);
    fresh.push_back(false);
  }
  // Merge underfull rebuilt children into a neighbour, then re-split the pair.
  for (size_t k = 0; k < run.size() && run.size() > 1; ++k) {
    if (!fresh[k]) continue;
    const NodePtr& kid = run.children[k].ptr;
    if (kid->size() >= MinEntries(kid->level)) continue;
    size_t left = k + 1 < run.size() ? k : k - 1;
    DL_ASSIGN_OR_RETURN(NodePtr a, src.Resolve(run.children[left]));
    DL_ASSIGN_OR_RETURN(NodePtr c, src.Resolve(run.children[left + 1]));
    std::vector<NodePtr> merged;
    if (a->leaf()) {
      KeyList pair;
      pair.Reserve(a->size() + c->size(), a->keys().bytes() + c->keys().bytes());
      pair.AppendRange(a->keys(), 0, a->size());
      pair.AppendRange(c->keys(), 0, c->size());
      EmitLeaves(pair.view(), false, &merged);
    } else {
      Run pair;
      pair.level = a->level;
      pair.Append(a);
      pair.Append(c);
      Chunk(pair, false, &merged);
    }
    run.keys.erase(run.keys.begin() + left, run.keys.begin() + left + 2);
    run.children.erase(run.children.begin() + left, run.children.begin() + left + 2);
    fresh.erase(fresh.begin() + left, fresh.begin() + left + 2);
    for (size_t m = 0; m < merged.size(); ++m) {
      run.keys.insert(run.keys.begin() + left + m, merged[m]->keys()[0]);
      run.children.insert(run.children.begin() + left + m, Ref(merged[m]));
      fresh.insert(fresh.begin() + left + m, false);  // merged nodes are large enough
    }
    k = left;  // re-examine from the merged position
  }
  Chunk(run, append, out);
  return Status::Ok();
}

Status ApplyNode(NodeSource& src, const NodePtr& node, const KeyEdit* b, const KeyEdit* e,
                 std::vector<NodePtr>* out) {
  if (!node || node->leaf()) return ApplyLeaf(node, b, e, out);
  return ApplyBranch(src, node, b, e, out);
}

}  // namespace

void SortEdits(std::vector<Edit>* edits) {
  auto less = [](const Edit& x, const Edit& y) { return x.key < y.key; };
  if (std::is_sorted(edits->begin(), edits->end(), less)) return;
  // Sort a permutation, then move each key once: swapping heap strings is slower.
  std::vector<uint32_t> order(edits->size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t x, uint32_t y) { return (*edits)[x].key < (*edits)[y].key; });
  std::vector<Edit> sorted;
  sorted.reserve(edits->size());
  for (uint32_t i : order) sorted.push_back(std::move((*edits)[i]));
  edits->swap(sorted);
}

Result<Child> Apply(NodeSource& src, const Child& root, const std::vector<Edit>& edits) {
  std::vector<KeyEdit> views;
  views.reserve(edits.size());
  for (const Edit& ed : edits) views.push_back({ed.key, ed.insert});
  return Apply(src, root, views.data(), views.data() + views.size());
}

Result<Child> Apply(NodeSource& src, const Child& root, const KeyEdit* begin, const KeyEdit* end) {
  if (begin == end) return root;
  NodePtr node;
  if (!root.empty()) {
    DL_ASSIGN_OR_RETURN(node, src.Resolve(root));
  }
  std::vector<NodePtr> level;
  DL_RETURN_IF_ERROR(ApplyNode(src, node, begin, end, &level));
  if (level.empty()) return Child();
  // Grow: stack parents until one root remains.
  while (level.size() > 1) {
    Run run;
    run.level = static_cast<uint8_t>(level[0]->level + 1);
    run.keys.reserve(level.size());
    run.children.reserve(level.size());
    for (const NodePtr& n : level) {
      run.keys.push_back(n->keys()[0]);
      run.children.push_back(Ref(n));
    }
    std::vector<NodePtr> up;
    Chunk(run, false, &up);
    level.swap(up);
  }
  // Shrink: a branch with a single child is replaced by that child.
  NodePtr top = level[0];
  while (!top->leaf() && top->size() == 1) {
    DL_ASSIGN_OR_RETURN(top, src.Resolve(top->children()[0]));
  }
  if (top->persisted()) return Child{nullptr, top->address(), top->count};
  return Ref(top);
}

void Persist(const Child& root, std::vector<std::pair<Address, std::string>>* blobs,
             std::vector<NodePtr>* fresh) {
  if (!root.ptr || root.ptr->persisted()) return;
  for (const Child& c : root.ptr->children()) Persist(c, blobs, fresh);
  std::string canonical = EncodeNode(*root.ptr);
  Address addr = Address::Of(canonical);
  root.ptr->SetAddress(addr);
  blobs->emplace_back(addr, WrapBlob(canonical));
  fresh->push_back(root.ptr);
}

namespace {
// Keys < target in the subtree.
Result<uint64_t> Rank(NodeSource& src, const Child& root, std::string_view target) {
  if (root.empty()) return uint64_t{0};
  DL_ASSIGN_OR_RETURN(NodePtr node, src.Resolve(root));
  uint64_t rank = 0;
  while (!node->leaf()) {
    size_t ci = node->keys().LowerBound(target);  // children before ci hold only smaller keys
    if (ci > 0) --ci;
    for (size_t i = 0; i < ci; ++i) rank += node->children()[i].count;
    DL_ASSIGN_OR_RETURN(node, src.Resolve(node->children()[ci]));
  }
  return rank + node->keys().LowerBound(target);
}
}  // namespace

Result<uint64_t> CountRange(NodeSource& src, const Child& root, std::string_view lo,
                            std::string_view hi) {
  DL_ASSIGN_OR_RETURN(uint64_t a, Rank(src, root, lo));
  uint64_t b = root.count;
  if (!hi.empty()) {
    DL_ASSIGN_OR_RETURN(b, Rank(src, root, hi));
  }
  return b > a ? b - a : 0;
}

Result<std::vector<Address>> NodesOnlyIn(NodeSource& src, const std::vector<Address>& a_roots,
                                         const std::vector<Address>& b_roots) {
  using Set = std::unordered_set<Address, AddressHash>;
  std::map<int, Set, std::greater<int>> a_levels, b_levels;
  auto seed = [&](const std::vector<Address>& roots, std::map<int, Set, std::greater<int>>* lv)
      -> Status {
    for (const Address& r : roots) {
      if (r.IsZero()) continue;
      DL_ASSIGN_OR_RETURN(NodePtr n, src.Load(r));
      (*lv)[n->level].insert(r);
    }
    return Status::Ok();
  };
  DL_RETURN_IF_ERROR(seed(a_roots, &a_levels));
  DL_RETURN_IF_ERROR(seed(b_roots, &b_levels));
  std::vector<Address> out;
  int top = std::max(a_levels.empty() ? -1 : a_levels.begin()->first,
                     b_levels.empty() ? -1 : b_levels.begin()->first);
  for (int level = top; level >= 0; --level) {
    Set& a = a_levels[level];
    Set& b = b_levels[level];
    auto expand = [&](const Address& addr, Set* into) -> Status {
      if (level == 0) return Status::Ok();
      DL_ASSIGN_OR_RETURN(NodePtr n, src.Load(addr));
      if (n->level != level) return Status::Corruption("node " + addr.Hex() + ": unexpected level");
      for (const Child& c : n->children()) into->insert(c.address());
      return Status::Ok();
    };
    for (const Address& x : a) {
      if (b.count(x)) continue;
      out.push_back(x);
      DL_RETURN_IF_ERROR(expand(x, &a_levels[level - 1]));
    }
    for (const Address& y : b) {
      if (a.count(y)) continue;
      DL_RETURN_IF_ERROR(expand(y, &b_levels[level - 1]));
    }
  }
  return out;
}

Status MarkReachable(NodeSource& src, const Address& root,
                     std::unordered_set<Address, AddressHash>* seen) {
  if (root.IsZero() || !seen->insert(root).second) return Status::Ok();
  DL_ASSIGN_OR_RETURN(NodePtr node, src.Load(root));
  for (const Child& c : node->children()) DL_RETURN_IF_ERROR(MarkReachable(src, c.address(), seen));
  return Status::Ok();
}

// ---- Iterator ----

bool Iterator::Descend(NodePtr node, std::string_view target, bool leftmost) {
  while (true) {
    if (node->leaf()) {
      size_t idx = leftmost ? 0 : node->keys().LowerBound(target);
      stack_.push_back({node, idx});
      return true;
    }
    size_t ci = leftmost ? 0 : ChildFor(*node, target);
    stack_.push_back({node, ci});
    Result<NodePtr> child = src_->Resolve(node->children()[ci]);
    if (!child.ok()) {
      Fail(*node, ci, child.status(), /*scanning=*/leftmost);  // leftmost: from AdvanceLeaf
      return false;
    }
    node = std::move(child).value();
  }
}

void Iterator::Seek(std::string_view target) {
  stack_.clear();
  valid_ = false;
  status_ = Status::Ok();
  if (root_.empty()) return;
  Result<NodePtr> root = src_->Resolve(root_);
  if (!root.ok()) {
    status_ = root.status();
    return;
  }
  if (!Descend(*root, target, false)) return;
  valid_ = true;
  if (stack_.back().idx >= stack_.back().node->size()) AdvanceLeaf();
}

void Iterator::SeekForward(std::string_view target) {
  if (!valid_) return;
  {
    // Targets are mostly a few keys ahead (skip-scans, pull's scan of an entity), so
    // the leaf is searched by galloping: keys 1, 2, 4, 8... ahead, then a binary search
    // between the last two probes.
    Frame& leaf = stack_.back();
    Keys keys = leaf.node->keys();
    size_t below = leaf.idx;  // a key before target
    if (keys[below] >= target) return;
    size_t probe = below + 1;
    for (size_t step = 1; probe < keys.size() && keys[probe] < target; step *= 2) {
      below = probe;
      probe = below + step;
    }
    if (probe < keys.size()) {
      leaf.idx = keys.LowerBound(target, below + 1, probe);
      return;
    }
    if (below + 1 < keys.size() && keys[keys.size() - 1] >= target) {
      leaf.idx = keys.LowerBound(target, below + 1, keys.size() - 1);
      return;
    }
  }
  stack_.pop_back();
  while (!stack_.empty()) {
    Frame& f = stack_.back();
    Keys keys = f.node->keys();
    size_t above = keys.UpperBound(target);  // first child starting after target
    // The root holds everything; another branch holds target if a later child
    // starts after it.
    if (above < keys.size() || stack_.size() == 1) {
      size_t ci = std::max(f.idx, above > 0 ? above - 1 : 0);
      f.idx = ci;
      Result<NodePtr> child = src_->Resolve(f.node->children()[ci]);
      if (!child.ok()) {
        Fail(*f.node, ci, child.status(), /*scanning=*/false);
        return;
      }
      if (!Descend(*child, target, false)) return;
      if (stack_.back().idx >= stack_.back().node->size()) AdvanceLeaf();
      return;
    }
    stack_.pop_back();
  }
  valid_ = false;
}

void Iterator::Next() {
  if (!valid_) return;
  if (++stack_.back().idx >= stack_.back().node->size()) AdvanceLeaf();
}

// The current leaf is exhausted: climb to the next branch slot and descend leftmost.
void Iterator::AdvanceLeaf() {
  stack_.pop_back();
  while (!stack_.empty()) {
    Frame& f = stack_.back();
    if (++f.idx < f.node->size()) {
      Result<NodePtr> child = src_->Resolve(f.node->children()[f.idx]);
      if (!child.ok()) {
        Fail(*f.node, f.idx, child.status(), /*scanning=*/true);
        return;
      }
      if (!Descend(*child, std::string_view(), true)) return;
      return;
    }
    stack_.pop_back();
  }
  valid_ = false;
}

void Iterator::Fail(const Node& parent, size_t child, const Status& status, bool scanning) {
  status_ = status;
  valid_ = false;
  if (!scanning || status.code() != Code::kMissingNode || parent.level != 1) return;
  // Loading the next leaves only records them when they are missing too (and caches
  // those that are not); the error stays the first child's.
  size_t end = std::min(parent.size(), child + 1 + kPrefetchSiblings);
  for (size_t i = child + 1; i < end; ++i) {
    if (!parent.children()[i].ptr) (void)src_->Load(parent.children()[i].addr);
  }
}

}  // namespace datalith::index
