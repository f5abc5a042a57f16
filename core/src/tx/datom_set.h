// Private to tx/: the transactor's hash set of the datoms one transaction asserts or
// retracts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "datalith/datom.h"
#include "util/hash.h"

namespace datalith::internal::tx {

// The datoms a transaction asserts (or retracts): kept in insertion order, found by
// (e, a, v) and by (e, a) through two open-addressing tables of indices into the
// datom vector. Erased datoms stay in the vector, marked dead. Not copyable.
class DatomSet {
 public:
  DatomSet() = default;
  DatomSet(const DatomSet&) = delete;
  DatomSet& operator=(const DatomSet&) = delete;

  bool empty() const { return live_ == 0; }
  size_t size() const { return live_; }
  void Reserve(size_t n) {
    items_.reserve(n);
    hashes_.reserve(n);
    next_.reserve(n);
    dead_.reserve(n);
    if (n * 2 > exact_.size()) Rehash(n * 2);
    size_t ea = 16;
    while (ea < n * 2) ea *= 2;
    if (ea > ea_.size()) RehashEa(ea);
  }
  const Datom* Find(EntityId e, EntityId a, const Value& v) const {
    if (live_ == 0) return nullptr;
    uint64_t h = HashOf(e, a, v);
    for (size_t s = h & (exact_.size() - 1);; s = (s + 1) & (exact_.size() - 1)) {
      uint32_t i = exact_[s];
      if (i == kEmpty) return nullptr;
      if (i != kTomb && hashes_[i] == h && items_[i].e == e && items_[i].a == a && items_[i].v == v)
        return &items_[i];
    }
  }
  bool Contains(EntityId e, EntityId a, const Value& v) const { return Find(e, a, v) != nullptr; }
  // Adds `d`, which must not be present.
  void Insert(Datom d) {
    if ((used_ + 1) * 2 > exact_.size()) Rehash(std::max<size_t>(16, live_ * 4));
    if ((ea_used_ + 1) * 2 > ea_.size()) RehashEa(std::max<size_t>(16, ea_.size() * 2));
    uint32_t i = static_cast<uint32_t>(items_.size());
    uint64_t h = HashOf(d.e, d.a, d.v);
    items_.push_back(std::move(d));
    hashes_.push_back(h);
    dead_.push_back(0);
    next_.push_back(kEmpty);
    PlaceExact(i);
    ++used_;
    ++live_;
    // Chain it in front of the other datoms with its (e, a).
    const Datom& x = items_[i];
    for (size_t s = EaHash(x.e, x.a) & (ea_.size() - 1);; s = (s + 1) & (ea_.size() - 1)) {
      uint32_t head = ea_[s];
      if (head == kEmpty) {
        ea_[s] = i;
        ++ea_used_;
        break;
      }
      if (items_[head].e == x.e && items_[head].a == x.a) {
        next_[i] = head;
        ea_[s] = i;
        break;
      }
    }
  }
  bool Erase(EntityId e, EntityId a, const Value& v) {
    if (live_ == 0) return false;
    uint64_t h = HashOf(e, a, v);
    for (size_t s = h & (exact_.size() - 1);; s = (s + 1) & (exact_.size() - 1)) {
      uint32_t i = exact_[s];
      if (i == kEmpty) return false;
      if (i != kTomb && hashes_[i] == h && items_[i].e == e && items_[i].a == a && items_[i].v == v) {
        exact_[s] = kTomb;
        dead_[i] = 1;
        --live_;
        return true;
      }
    }
  }
  // Calls fn(datom) for the live datoms with (e, a).
  template <class F>
  void ForEa(EntityId e, EntityId a, F&& fn) const {
    if (live_ == 0) return;
    for (size_t s = EaHash(e, a) & (ea_.size() - 1);; s = (s + 1) & (ea_.size() - 1)) {
      uint32_t head = ea_[s];
      if (head == kEmpty) return;
      if (items_[head].e == e && items_[head].a == a) {
        for (uint32_t i = head; i != kEmpty; i = next_[i]) {
          if (!dead_[i]) fn(items_[i]);
        }
        return;
      }
    }
  }
  // Live datoms with (e, a), in value order.
  std::vector<const Datom*> WithEa(EntityId e, EntityId a) const {
    std::vector<const Datom*> out;
    ForEa(e, a, [&](const Datom& d) { out.push_back(&d); });
    std::sort(out.begin(), out.end(), [](const Datom* x, const Datom* y) { return x->v < y->v; });
    return out;
  }
  // Calls fn(datom) for every live datom, in insertion order.
  template <class F>
  void ForEach(F&& fn) {
    for (size_t i = 0; i < items_.size(); ++i) {
      if (!dead_[i]) fn(items_[i]);
    }
  }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  static constexpr uint32_t kTomb = 0xfffffffeu;

  static uint64_t HashOf(EntityId e, EntityId a, const Value& v) {
    return Mix64(e * 0x9e3779b97f4a7c15ULL + a) ^ v.Hash();
  }
  static uint64_t EaHash(EntityId e, EntityId a) { return Mix64(e * 0x9e3779b97f4a7c15ULL ^ a); }
  void PlaceExact(uint32_t i) {
    for (size_t s = hashes_[i] & (exact_.size() - 1);; s = (s + 1) & (exact_.size() - 1)) {
      if (exact_[s] == kEmpty || exact_[s] == kTomb) {
        exact_[s] = i;
        return;
      }
    }
  }
  void Rehash(size_t want) {
    size_t cap = 16;
    while (cap < want) cap *= 2;
    exact_.assign(cap, kEmpty);
    used_ = 0;
    for (uint32_t i = 0; i < items_.size(); ++i) {
      if (!dead_[i]) {
        PlaceExact(i);
        ++used_;
      }
    }
  }
  void RehashEa(size_t cap) {
    std::vector<uint32_t> old;
    old.swap(ea_);
    ea_.assign(cap, kEmpty);
    for (uint32_t head : old) {
      if (head == kEmpty) continue;
      const Datom& x = items_[head];
      size_t s = EaHash(x.e, x.a) & (cap - 1);
      while (ea_[s] != kEmpty) s = (s + 1) & (cap - 1);
      ea_[s] = head;
    }
  }

  std::vector<Datom> items_;
  std::vector<uint64_t> hashes_;
  std::vector<uint32_t> next_;  // next older datom with the same (e, a)
  std::vector<uint8_t> dead_;
  std::vector<uint32_t> exact_;  // slots: index into items_, kEmpty or kTomb
  std::vector<uint32_t> ea_;     // slots: newest index with some (e, a), or kEmpty
  size_t used_ = 0;              // exact_ slots holding an index or a tombstone
  size_t ea_used_ = 0;
  size_t live_ = 0;
};

}  // namespace datalith::internal::tx
