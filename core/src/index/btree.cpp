#include "index/btree.h"

#include <algorithm>
#include <map>

namespace datalith::index {
namespace {

// Entries of one level being rebuilt: keys, plus children for branches.
struct Run {
  uint8_t level = 0;
  std::vector<std::string_view> keys;
  std::vector<Child> children;  // empty for leaves
  std::vector<NodePtr> keep_alive;  // owners of the keys' bytes

  size_t size() const { return keys.size(); }
  void Append(const NodePtr& node) {
    keep_alive.push_back(node);
    for (size_t i = 0; i < node->size(); ++i) {
      keys.push_back(node->keys[i]);
      if (!node->leaf()) children.push_back(node->children[i]);
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
  if (run.level == 0) {
    node->count = end - begin;
  } else {
    node->children.assign(run.children.begin() + begin, run.children.begin() + end);
    for (const Child& c : node->children) node->count += c.count;
  }
  return node;
}

// Splits a run into balanced nodes of at most MaxEntries each.
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

Child Ref(const NodePtr& node) { return Child{node, Address(), node->count}; }

Status ApplyNode(NodeSource& src, const NodePtr& node, const Edit* b, const Edit* e,
                 std::vector<NodePtr>* out);

Status ApplyLeaf(const NodePtr& node, const Edit* b, const Edit* e, std::vector<NodePtr>* out) {
  Run run;
  run.level = 0;
  size_t n = node ? node->size() : 0;
  run.keys.reserve(n + (e - b));
  size_t i = 0;
  for (const Edit* ed = b; ed != e; ++ed) {
    std::string_view k = ed->key;
    while (i < n && node->keys[i] < k) run.keys.push_back(node->keys[i++]);
    bool present = i < n && node->keys[i] == k;
    if (ed->insert) {
      run.keys.push_back(k);  // present or not, exactly one copy survives
      if (present) ++i;
    } else if (present) {
      ++i;
    }
  }
  while (i < n) run.keys.push_back(node->keys[i++]);
  if (node) run.keep_alive.push_back(node);
  Chunk(run, out);
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
    for (size_t i = 0; i < node.size(); ++i) copy->keys.Add(i == ci ? kid->keys[0] : node.keys[i]);
  }
  return copy;
}

Status ApplyBranch(NodeSource& src, const NodePtr& node, const Edit* b, const Edit* e,
                   std::vector<NodePtr>* out) {
  // Recurse into each child that has edits, visiting only those children.
  std::vector<std::pair<size_t, std::vector<NodePtr>>> changed;  // (child index, rebuilt)
  for (const Edit* cur = b; cur != e;) {
    size_t ci = ChildFor(*node, cur->key);
    const Edit* stop = e;
    if (ci + 1 < node->size()) {
      std::string_view next = node->keys[ci + 1];
      stop = std::lower_bound(cur, e, next, [](const Edit& ed, std::string_view k) {
        return std::string_view(ed.key) < k;
      });
    }
    DL_ASSIGN_OR_RETURN(NodePtr child, src.Resolve(node->children[ci]));
    changed.emplace_back(ci, std::vector<NodePtr>());
    DL_RETURN_IF_ERROR(ApplyNode(src, child, cur, stop, &changed.back().second));
    cur = stop;
  }
  // The common small transaction: one child came back as one node of legal size.
  // Copy this branch with it swapped in instead of rebuilding the run.
  if (changed.size() == 1 && changed[0].second.size() == 1) {
    const NodePtr& kid = changed[0].second[0];
    if (kid->size() >= MinEntries(kid->level) || node->size() == 1) {
      out->push_back(ReplaceChild(*node, changed[0].first, kid));
      return Status::Ok();
    }
  }
  Run run;
  run.level = node->level;
  run.keep_alive.push_back(node);
  std::vector<bool> fresh;  // parallel to run: rebuilt by this call (may be underfull)
  size_t next_changed = 0;
  for (size_t ci = 0; ci < node->size(); ++ci) {
    if (next_changed < changed.size() && changed[next_changed].first == ci) {
      for (const NodePtr& r : changed[next_changed++].second) {
        run.keep_alive.push_back(r);
        run.keys.push_back(r->keys[0]);
        run.children.push_back(Ref(r));
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
    Run pair;
    pair.level = a->level;
    pair.Append(a);
    pair.Append(c);
    std::vector<NodePtr> merged;
    Chunk(pair, &merged);
    run.keys.erase(run.keys.begin() + left, run.keys.begin() + left + 2);
    run.children.erase(run.children.begin() + left, run.children.begin() + left + 2);
    fresh.erase(fresh.begin() + left, fresh.begin() + left + 2);
    for (size_t m = 0; m < merged.size(); ++m) {
      run.keep_alive.push_back(merged[m]);
      run.keys.insert(run.keys.begin() + left + m, merged[m]->keys[0]);
      run.children.insert(run.children.begin() + left + m, Ref(merged[m]));
      fresh.insert(fresh.begin() + left + m, false);  // merged nodes are large enough
    }
    k = left;  // re-examine from the merged position
  }
  Chunk(run, out);
  return Status::Ok();
}

Status ApplyNode(NodeSource& src, const NodePtr& node, const Edit* b, const Edit* e,
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
  if (edits.empty()) return root;
  NodePtr node;
  if (!root.empty()) {
    DL_ASSIGN_OR_RETURN(node, src.Resolve(root));
  }
  std::vector<NodePtr> level;
  DL_RETURN_IF_ERROR(ApplyNode(src, node, edits.data(), edits.data() + edits.size(), &level));
  if (level.empty()) return Child();
  // Grow: stack parents until one root remains.
  while (level.size() > 1) {
    Run run;
    run.level = static_cast<uint8_t>(level[0]->level + 1);
    for (const NodePtr& n : level) {
      run.keys.push_back(n->keys[0]);
      run.children.push_back(Ref(n));
    }
    run.keep_alive = level;
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
      status_ = child.status();
      valid_ = false;
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
        status_ = child.status();
        valid_ = false;
        return;
      }
      if (!Descend(*child, std::string_view(), true)) return;
      return;
    }
    stack_.pop_back();
  }
  valid_ = false;
}

}  // namespace datalith::index
