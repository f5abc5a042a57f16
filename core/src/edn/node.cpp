// Nodes: construction, map lookup, equality and the hash consistent with it.
#include <algorithm>
#include <bit>
#include <vector>

#include "edn/edn_internal.h"
#include "util/hash.h"
#include "value/canonical.h"

namespace datalith::edn {

namespace detail {

std::string WhereText(Pos p) {
  return "line " + std::to_string(p.line) + ", col " + std::to_string(p.col);
}

Status ErrorAt(Pos p, const std::string& message) {
  return Status::Invalid(WhereText(p) + ": " + message);
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNil: return "nil";
    case Kind::kBool: return "boolean";
    case Kind::kLong: return "integer";
    case Kind::kBigInt: return "big integer";
    case Kind::kDouble: return "float";
    case Kind::kBigDec: return "big decimal";
    case Kind::kString: return "string";
    case Kind::kChar: return "character";
    case Kind::kKeyword: return "keyword";
    case Kind::kSymbol: return "symbol";
    case Kind::kList: return "list";
    case Kind::kVector: return "vector";
    case Kind::kMap: return "map";
    case Kind::kSet: return "set";
    case Kind::kTagged: return "tagged element";
    case Kind::kInst: return "instant";
    case Kind::kUuid: return "uuid";
  }
  return "form";
}

}  // namespace detail

namespace {

using detail::NodeHash;

// Bits of a double as Equal sees it: -0.0 is 0.0 and all NaNs are one NaN.
uint64_t CanonicalBits(double d) {
  return std::bit_cast<uint64_t>(datalith::internal::CanonicalDouble(d));
}

}  // namespace

namespace detail {

// A hash consistent with Equal: ignores positions, order-independent for sets/maps.
uint64_t NodeHash(const Node& n) {
  uint64_t h = SplitMix64(static_cast<uint64_t>(n.kind) + 1);
  switch (n.kind) {
    case Kind::kNil: break;
    case Kind::kBool: h ^= SplitMix64(n.b); break;
    case Kind::kLong:
    case Kind::kInst: h ^= SplitMix64(static_cast<uint64_t>(n.i)); break;
    case Kind::kDouble: h ^= SplitMix64(CanonicalBits(n.d)); break;
    case Kind::kChar: h ^= SplitMix64(n.ch); break;
    case Kind::kUuid: h ^= SplitMix64(n.uuid.hi ^ SplitMix64(n.uuid.lo)); break;
    case Kind::kBigInt:
    case Kind::kBigDec:
    case Kind::kString:
    case Kind::kKeyword:
    case Kind::kSymbol: h ^= HashBytes(n.text); break;
    case Kind::kTagged: h ^= HashBytes(n.text); [[fallthrough]];
    case Kind::kList:
    case Kind::kVector:
      for (const Node& item : n.items) h = SplitMix64(h ^ NodeHash(item));
      break;
    case Kind::kSet: {
      uint64_t sum = 0;
      for (const Node& item : n.items) sum += NodeHash(item);
      h ^= SplitMix64(sum);
      break;
    }
    case Kind::kMap: {
      uint64_t sum = 0;
      for (size_t i = 0; i + 1 < n.items.size(); i += 2) {
        sum += SplitMix64(NodeHash(n.items[i]) * 31 + NodeHash(n.items[i + 1]));
      }
      h ^= SplitMix64(sum + n.items.size());
      break;
    }
  }
  return h;
}

}  // namespace detail

namespace {

// Entries of a set (stride 1) or map (stride 2, key then value).
bool EntryEqual(const Node& a, size_t i, const Node& b, size_t j, size_t stride) {
  for (size_t k = 0; k < stride; ++k) {
    if (!Equal(a.items[i + k], b.items[j + k])) return false;
  }
  return true;
}

uint64_t EntryHash(const Node& n, size_t i, size_t stride) {
  uint64_t h = NodeHash(n.items[i]);
  return stride == 1 ? h : SplitMix64(h * 31 + NodeHash(n.items[i + 1]));
}

// Multiset equality of entries, bucketed by hash so large sets/maps stay n log n.
bool UnorderedEqual(const Node& a, const Node& b, size_t stride) {
  if (a.items.size() != b.items.size()) return false;
  if (a.items.size() % stride != 0) return false;
  const size_t n = a.items.size() / stride;
  std::vector<std::pair<uint64_t, size_t>> bh(n);
  for (size_t j = 0; j < n; ++j) bh[j] = {EntryHash(b, j * stride, stride), j};
  std::sort(bh.begin(), bh.end());
  std::vector<bool> used(n, false);
  for (size_t i = 0; i < n; ++i) {
    uint64_t h = EntryHash(a, i * stride, stride);
    auto it = std::lower_bound(bh.begin(), bh.end(), std::make_pair(h, size_t{0}));
    bool found = false;
    for (; it != bh.end() && it->first == h; ++it) {
      if (!used[it->second] && EntryEqual(a, i * stride, b, it->second * stride, stride)) {
        used[it->second] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

// ---- Node ----

const Node* Node::Get(const Node& key) const {
  if (kind != Kind::kMap) return nullptr;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (Equal(items[i], key)) return &items[i + 1];
  }
  return nullptr;
}

const Node* Node::GetKeyword(std::string_view name) const {
  if (kind != Kind::kMap) return nullptr;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].IsKeyword(name)) return &items[i + 1];
  }
  return nullptr;
}

std::string Node::Where() const { return detail::WhereText(pos); }

Node Node::Bool(bool v) {
  Node n;
  n.kind = Kind::kBool;
  n.b = v;
  return n;
}

Node Node::Long(int64_t v) {
  Node n;
  n.kind = Kind::kLong;
  n.i = v;
  return n;
}

Node Node::Double(double v) {
  Node n;
  n.kind = Kind::kDouble;
  n.d = v;
  return n;
}

Node Node::String(std::string v) {
  Node n;
  n.kind = Kind::kString;
  n.text = std::move(v);
  return n;
}

Node Node::Keyword(std::string name) {
  Node n;
  n.kind = Kind::kKeyword;
  n.text = std::move(name);
  return n;
}

Node Node::Symbol(std::string name) {
  Node n;
  n.kind = Kind::kSymbol;
  n.text = std::move(name);
  return n;
}

Node Node::Inst(int64_t millis) {
  Node n;
  n.kind = Kind::kInst;
  n.i = millis;
  return n;
}

Node Node::MakeUuid(Uuid u) {
  Node n;
  n.kind = Kind::kUuid;
  n.uuid = u;
  return n;
}

Node Node::Coll(Kind kind, std::vector<Node> items) {
  Node n;
  n.kind = kind;
  n.items = std::move(items);
  return n;
}

// ---- equality ----

bool Equal(const Node& a, const Node& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kNil: return true;
    case Kind::kBool: return a.b == b.b;
    case Kind::kLong:
    case Kind::kInst: return a.i == b.i;
    case Kind::kDouble: return CanonicalBits(a.d) == CanonicalBits(b.d);
    case Kind::kChar: return a.ch == b.ch;
    case Kind::kUuid: return a.uuid == b.uuid;
    case Kind::kBigInt:
    case Kind::kBigDec:
    case Kind::kString:
    case Kind::kKeyword:
    case Kind::kSymbol: return a.text == b.text;
    case Kind::kTagged:
      if (a.text != b.text) return false;
      [[fallthrough]];
    case Kind::kList:
    case Kind::kVector:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!Equal(a.items[i], b.items[i])) return false;
      }
      return true;
    case Kind::kSet: return UnorderedEqual(a, b, 1);
    case Kind::kMap: return UnorderedEqual(a, b, 2);
  }
  return false;
}

}  // namespace datalith::edn
