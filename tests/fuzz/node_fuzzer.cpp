// Tree node decoder (core/src/index/node.*, docs/format.md §2) and the datom keys it
// holds (core/src/db/keys.*, §3). Any bytes either decode or fail with a Corruption
// naming the node's address. A decoded node encodes to canonical bytes that decode to
// the same node (level, keys, children and counts) and encode again to the same bytes.
// Every key that decodes as a datom key of some index re-encodes to the same key. The
// same bytes taken as a stored blob (codec byte first) must fail verification against
// an address they do not hash to, naming it.
#include <cstddef>
#include <cstdint>

#include "datalith/store.h"
#include "db/keys.h"
#include "fuzz_check.h"
#include "index/node.h"

using namespace datalith;

namespace {

std::string Describe(const index::Node& n) {
  return "level " + std::to_string(n.level) + ", " + std::to_string(n.size()) + " entries";
}

void CheckSame(const index::Node& a, const index::Node& b) {
  FUZZ_CHECK(a.level == b.level && a.size() == b.size() && a.count == b.count,
             Describe(a) + " vs " + Describe(b));
  for (size_t i = 0; i < a.size(); ++i) FUZZ_CHECK(a.keys()[i] == b.keys()[i], "key " + std::to_string(i));
  for (size_t i = 0; i < a.children().size(); ++i) {
    FUZZ_CHECK(a.children()[i].address() == b.children()[i].address() &&
                   a.children()[i].count == b.children()[i].count,
               "child " + std::to_string(i));
  }
}

void CheckKey(std::string_view key) {
  for (int i = 0; i < kIndexCount; ++i) {
    for (bool history : {false, true}) {
      const auto index = static_cast<IndexType>(i);
      Datom d;
      Status s = internal::DecodeKey(index, key, history, &d);
      if (!s.ok()) {
        FUZZ_CHECK_ERROR(s, Code::kCorruption, "");  // "malformed datom key" or the value's error
        continue;
      }
      std::string again;
      internal::EncodeKey(index, d, history, &again);
      FUZZ_CHECK(again == key, std::string(IndexName(index)) + (history ? " history" : "") +
                                   " key re-encodes differently");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Address addr = Address::Of(in);
  auto node = index::DecodeNode(in, addr);
  if (!node.ok()) {
    FUZZ_CHECK_ERROR(node.status(), Code::kCorruption, "node " + addr.Hex());
  } else {
    const index::Node& n = **node;
    FUZZ_CHECK(n.address() == addr, "the decoded node's address");
    const std::string canonical = index::EncodeNode(n);
    FUZZ_CHECK(canonical.size() <= in.size(), "canonical bytes longer than the input");
    const Address again_addr = Address::Of(canonical);
    auto again = index::DecodeNode(canonical, again_addr);
    FUZZ_CHECK(again.ok(), "canonical bytes do not decode: " + again.status().ToString());
    CheckSame(n, **again);
    FUZZ_CHECK(index::EncodeNode(**again) == canonical, "canonical bytes are not a fixed point");
    for (size_t i = 0; i < n.size(); ++i) CheckKey(n.keys()[i]);
  }

  Address other = addr;
  other.bytes[0] ^= 1;
  Status verified = VerifyBlob(other, in);
  FUZZ_CHECK_ERROR(verified, Code::kCorruption, other.Hex());
  return 0;
}
