// Persistent B+tree over memcmp-ordered byte keys.
//
// A tree is a `Child` (its root reference). Every update returns a new root and
// rewrites only the nodes on the paths it touches; everything else is shared with
// the old tree, in memory and, once persisted, in storage. Trees are values: any
// number of readers may walk any root concurrently with the writer building new ones.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "index/node_source.h"

namespace datalith::index {

// Fan-out. Leaves split above kMaxLeaf entries, branches above kMaxBranch children;
// a rewritten node below a quarter of its maximum merges with a neighbour.
constexpr size_t kMaxLeaf = 128;
constexpr size_t kMaxBranch = 64;

struct Edit {
  std::string key;
  bool insert = true;  // false: remove
};

// An edit whose key bytes live elsewhere (e.g. in one buffer for a whole batch), so a
// large batch costs no allocation per key.
struct KeyEdit {
  std::string_view key;
  bool insert = true;  // false: remove
};

// Sorts edits by key (cheaply when they already are, as EAVT edits usually are).
void SortEdits(std::vector<Edit>* edits);

// Applies `edits` (sorted by key, keys unique). Inserting a present key or removing
// an absent one is a no-op. A large batch into an empty tree is a bulk build: leaves
// are filled and stacked bottom-up.
Result<Child> Apply(NodeSource& src, const Child& root, const std::vector<Edit>& edits);
// The same over [begin, end) of key views.
Result<Child> Apply(NodeSource& src, const Child& root, const KeyEdit* begin, const KeyEdit* end);

// Encodes, hashes and compresses every node under `root` not yet persisted (children
// first), appending (address, blob) to `blobs` and the nodes to `fresh`. If the blobs
// cannot be stored, the caller must ClearAddress() every node in `fresh`.
void Persist(const Child& root, std::vector<std::pair<Address, std::string>>* blobs,
             std::vector<NodePtr>* fresh);

// Number of keys k with lo <= k < hi; an empty `hi` means no upper bound.
Result<uint64_t> CountRange(NodeSource& src, const Child& root, std::string_view lo,
                            std::string_view hi);

// Addresses of nodes reachable from `a_roots` and not from `b_roots` (zero addresses
// are empty trees and ignored). Walks both sides level by level and never descends
// into a subtree whose root both sides share, so the cost is proportional to the
// difference. Parents come before their children. All trees must be persisted.
Result<std::vector<Address>> NodesOnlyIn(NodeSource& src, const std::vector<Address>& a_roots,
                                         const std::vector<Address>& b_roots);

// Adds every node address reachable from `root` to `seen`, skipping subtrees whose
// root is already there (for GC's mark phase).
Status MarkReachable(NodeSource& src, const Address& root,
                     std::unordered_set<Address, AddressHash>* seen);

// Forward iterator over a tree: Seek / Valid / Next / key / status.
// Once status() is not OK, Valid() is false.
//
// On an asynchronous store a scan stops at the first leaf not loaded yet. When that
// happens while moving on to the next leaf (the scan is long, not a point lookup), the
// iterator also asks for the following kPrefetchSiblings leaves of the same parent, so
// the store records them as missing in the same batch and a cold scan costs one round
// per that many leaves instead of one per leaf.
constexpr size_t kPrefetchSiblings = 32;

class Iterator {
 public:
  Iterator(NodeSource* src, Child root) : src_(src), root_(std::move(root)) {}

  void SeekToFirst() { Seek(std::string_view()); }
  // Positions at the first key >= `target`.
  void Seek(std::string_view target);
  // Moves forward to the first key >= `target`, never back: a key at or after the
  // current one leaves the iterator where it is. Searches the current leaf, then
  // climbs only as far as an ancestor whose range holds `target`, so ascending
  // lookups that land nearby cost a binary search in one leaf.
  void SeekForward(std::string_view target);
  bool Valid() const { return valid_; }
  void Next();
  std::string_view key() const { return stack_.back().node->keys()[stack_.back().idx]; }
  const Status& status() const { return status_; }

 private:
  struct Frame {
    NodePtr node;
    size_t idx;
  };
  bool Descend(NodePtr node, std::string_view target, bool leftmost);
  void AdvanceLeaf();
  // Records a failed child load; see kPrefetchSiblings.
  void Fail(const Node& parent, size_t child, const Status& status, bool scanning);

  NodeSource* src_;
  Child root_;
  std::vector<Frame> stack_;
  bool valid_ = false;
  Status status_;
};

}  // namespace datalith::index
