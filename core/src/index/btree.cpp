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
    for (size_t i = 0; i < node->size(); ++i) {
      keys.push_back(node->keys[i]);
      children.push_back(node->children[i]);
    }
  }
};

size_t MaxEntries(uint8_t level) { return level == 0 ? kMaxLeaf : kMaxBranch; }
size_t MinEntries(uint8_t level) { return MaxEntries(level) / 4; }

NodePtr MakeNode(const Run& run, size_t begin, size_t end) {
  auto node = std::make_shared<Node>();
  node->level = run.level;
  size_t bytes = 0;
  for (size_t i = begin; i < end; ++i) bytes += run.keys[i].size();
  node->keys.Reserve(end - begin, bytes);
  for (size_t i = begin; i < end; ++i) node->keys.Add(run.keys[i]);
  node->children.assign(run.children.begin() + begin, run.children.begin() + end);
  for (const Child& c : node->children) node->count += c.count;
  return node;
}

// Splits a branch run into balanced nodes of at most MaxEntries each.
void Chunk(const Run& run, std::vector<NodePtr>* out) {
  size_t n = run.size();
  if (n == 0) return;
  size_t max = MaxEntries(run.level);
  size_t parts = (n + max - 1) / max;
  for (size_t p = 0, begin = 0; p < parts; ++p) {
    size_t end = n * (p + 1) / parts;
    out->push_back(MakeNode(run, begin, end));
    begin = end;
  }
}

// Leaves holding `keys`, balanced, each at most kMaxLeaf keys.
void EmitLeaves(KeyList&& keys, std::vector<NodePtr>* out) {
  size_t n = keys.size();
  if (n == 0) return;
  size_t parts = (n + kMaxLeaf - 1) / kMaxLeaf;
  if (parts == 1) {
    auto node = std::make_shared<Node>();
    node->keys = std::move(keys);
    node->count = n;
    out->push_back(std::move(node));
    return;
  }
  for (size_t p = 0, begin = 0; p < parts; ++p) {
    size_t end = n * (p + 1) / parts;
    auto node = std::make_shared<Node>();
    node->keys.AppendRange(keys, begin, end);
    node->count = end - begin;
    out->push_back(std::move(node));
    begin = end;
  }
}

Child Ref(const NodePtr& node) { return Child{node, Address(), node->count}; }

Status ApplyNode(NodeSource& src, const NodePtr& node, const KeyEdit* b, const KeyEdit* e,
                 std::vector<NodePtr>* out);

// Merges the edits into the leaf's keys, copying the untouched stretches of key bytes
// in one piece each.
Status ApplyLeaf(const NodePtr& node, const KeyEdit* b, const KeyEdit* e, std::vector<NodePtr>* out) {
  static const KeyList kNoKeys;
  const KeyList& old = node ? node->keys : kNoKeys;
  size_t n = old.size();
  size_t m = static_cast<size_t>(e - b);
  size_t bytes = old.bytes();
  for (const KeyEdit* ed = b; ed != e; ++ed) bytes += ed->insert ? ed->key.size() : 0;
  KeyList merged;
  merged.Reserve(n + m, bytes);
  bool search = m * 8 < n;  // few edits: binary search for each; many: walk
  size_t i = 0;
  for (const KeyEdit* ed = b; ed != e; ++ed) {
    std::string_view k = ed->key;
    size_t j = i;
    if (search) {
      j = old.LowerBound(k, i, n);
    } else {
      while (j < n && old[j] < k) ++j;
    }
    merged.AppendRange(old, i, j);
    i = j;
    if (i < n && old[i] == k) ++i;  // present: an insert re-adds it, a remove drops it
    if (ed->insert) merged.Add(k);
  }
  merged.AppendRange(old, i, n);
  EmitLeaves(std::move(merged), out);
  return Status::Ok();
}

// Index of the child whose key range holds `k`.
size_t ChildFor(const Node& node, std::string_view k) {
  size_t ci = node.keys.UpperBound(k);
  return ci > 0 ? ci - 1 : 0;
}

// A copy of `node` with child ci replaced by `kid`.
NodePtr ReplaceChild(const Node& node, size_t ci, const NodePtr& kid) {
  auto copy = std::make_shared<Node>();
  copy->level = node.level;
  copy->children = node.children;
  copy->children[ci] = Ref(kid);
  copy->count = node.count - node.children[ci].count + kid->count;
  if (kid->keys[0] == node.keys[ci]) {
    copy->keys = node.keys;
  } else {
    copy->keys.Reserve(node.size(), node.keys.bytes() + kid->keys[0].size());
    copy->keys.AppendRange(node.keys, 0, ci);
    copy->keys.Add(kid->keys[0]);
    copy->keys.AppendRange(node.keys, ci + 1, node.size());
  }
  return copy;
}

Status ApplyBranch(NodeSource& src, const NodePtr& node, const KeyEdit* b, const KeyEdit* e,
                   std::vector<NodePtr>* out) {
  // Recurse into each child that has edits, visiting only those children.
  std::vector<NodePtr> rebuilt;
  std::vector<std::pair<size_t, size_t>> changed;  // (child index, end of its nodes in rebuilt)
  for (const KeyEdit* cur = b; cur != e;) {
    size_t ci = ChildFor(*node, cur->key);
    const KeyEdit* stop = e;
    if (ci + 1 < node->size()) {
      std::string_view next = node->keys[ci + 1];
      stop = std::lower_bound(cur, e, next,
                              [](const KeyEdit& ed, std::string_view k) { return ed.key < k; });
    }
    DL_ASSIGN_OR_RETURN(NodePtr child, src.Resolve(node->children[ci]));
    DL_RETURN_IF_ERROR(ApplyNode(src, child, cur, stop, &rebuilt));
    changed.emplace_back(ci, rebuilt.size());
    cur = stop;
  }
  // The common small transaction: one child came back as one node of legal size.
  // Copy this branch with it swapped in instead of rebuilding the run.
  if (changed.size() == 1 && rebuilt.size() == 1) {
    const NodePtr& kid = rebuilt[0];
    if (kid->size() >= MinEntries(kid->level) || node->size() == 1) {
      out->push_back(ReplaceChild(*node, changed[0].first, kid));
      return Status::Ok();
    }
  }
  Run run;
  run.level = node->level;
  run.keys.reserve(node->size() + rebuilt.size());
  run.children.reserve(node->size() + rebuilt.size());
  std::vector<bool> fresh;  // parallel to run: rebuilt by this call (may be underfull)
  fresh.reserve(node->size() + rebuilt.size());
  size_t next_changed = 0, r = 0;
  for (size_t ci = 0; ci < node->size(); ++ci) {
    if (next_changed < changed.size() && changed[next_changed].first == ci) {
      for (size_t end = changed[next_changed++].second; r < end; ++r) {
        run.keys.push_back(rebuilt[r]->keys[0]);
        run.children.push_back(Ref(rebuilt[r]));
        fresh.push_back(true);
      }
      continue;
    }
    run.keys.push_back(node->keys[ci]);
    run.children.push_back(node->children[ci]);
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
      KeyList keys;
      keys.Reserve(a->size() + c->size(), a->keys.bytes() + c->keys.bytes());
      keys.AppendRange(a->keys, 0, a->size());
      keys.AppendRange(c->keys, 0, c->size());
      EmitLeaves(std::move(keys), &merged);
    } else {
      Run pair;
      pair.level = a->level;
      pair.Append(a);
      pair.Append(c);
      Chunk(pair, &merged);
    }
    run.keys.erase(run.keys.begin() + left, run.keys.begin() + left + 2);
    run.children.erase(run.children.begin() + left, run.children.begin() + left + 2);
    fresh.erase(fresh.begin() + left, fresh.begin() + left + 2);
    for (size_t m = 0; m < merged.size(); ++m) {
      run.keys.insert(run.keys.begin() + left + m, merged[m]->keys[0]);
      run.children.insert(run.children.begin() + left + m, Ref(merged[m]));
      fresh.insert(fresh.begin() + left + m, false);  // merged nodes are large enough
    }
    k = left;  // re-examine from the merged position
  }
  Chunk(run, out);
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
      run.keys.push_back(n->keys[0]);
      run.children.push_back(Ref(n));
    }
    std::vector<NodePtr> up;
    Chunk(run, &up);
    level.swap(up);
  }
  // Shrink: a branch with a single child is replaced by that child.
  NodePtr top = level[0];
  while (!top->leaf() && top->size() == 1) {
    DL_ASSIGN_OR_RETURN(top, src.Resolve(top->children[0]));
  }
  if (top->persisted()) return Child{nullptr, top->address(), top->count};
  return Ref(top);
}

void Persist(const Child& root, std::vector<std::pair<Address, std::string>>* blobs,
             std::vector<NodePtr>* fresh) {
  if (!root.ptr || root.ptr->persisted()) return;
  for (const Child& c : root.ptr->children) Persist(c, blobs, fresh);
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
    size_t ci = node->keys.LowerBound(target);  // children before ci hold only smaller keys
    if (ci > 0) --ci;
    for (size_t i = 0; i < ci; ++i) rank += node->children[i].count;
    DL_ASSIGN_OR_RETURN(node, src.Resolve(node->children[ci]));
  }
  return rank + node->keys.LowerBound(target);
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
      for (const Child& c : n->children) into->insert(c.address());
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
  for (const Child& c : node->children) DL_RETURN_IF_ERROR(MarkReachable(src, c.address(), seen));
  return Status::Ok();
}

// ---- Iterator ----

bool Iterator::Descend(NodePtr node, std::string_view target, bool leftmost) {
  while (true) {
    if (node->leaf()) {
      size_t idx = leftmost ? 0 : node->keys.LowerBound(target);
      stack_.push_back({node, idx});
      return true;
    }
    size_t ci = leftmost ? 0 : ChildFor(*node, target);
    stack_.push_back({node, ci});
    Result<NodePtr> child = src_->Resolve(node->children[ci]);
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
      Result<NodePtr> child = src_->Resolve(f.node->children[f.idx]);
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
    if (!parent.children[i].ptr) (void)src_->Load(parent.children[i].addr);
  }
}

}  // namespace datalith::index
