// Value decoder (core/src/value, docs/format.md §1): any bytes either decode or fail
// with a Corruption naming the byte offset. The encoding is canonical, so a decoded
// value encodes to exactly the bytes it was read from. The input holds up to two
// values back to back: their encodings compare (memcmp) with the sign of
// Value::Compare, equal values hash equally, and an instant formats to text that
// parses back to the same instant.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "datalith/value.h"
#include "fuzz_check.h"

using namespace datalith;

namespace {

int Sign(int x) { return (x > 0) - (x < 0); }

// Decodes the value at *pos and checks it re-encodes to the bytes it came from.
bool DecodeChecked(std::string_view in, size_t* pos, Value* out, std::string* encoding) {
  const size_t start = *pos;
  auto v = DecodeValue(in, pos);
  if (!v.ok()) {
    FUZZ_CHECK_ERROR(v.status(), Code::kCorruption, "at byte ");
    FUZZ_CHECK(*pos == start, "a failed decode moved the position");
    return false;
  }
  FUZZ_CHECK(*pos > start && *pos <= in.size(), "position " + std::to_string(*pos));
  EncodeValue(*v, encoding);
  FUZZ_CHECK(*encoding == in.substr(start, *pos - start), v->ToString() + " re-encodes differently");
  (void)v->ToString();
  if (v->type() == ValueType::kInstant) {
    auto parsed = ParseInstant(FormatInstant(v->instant()));
    FUZZ_CHECK(parsed.ok() && *parsed == v->instant(),
               FormatInstant(v->instant()) + " of " + std::to_string(v->instant()) + ": " +
                   (parsed.ok() ? std::to_string(*parsed) : parsed.status().ToString()));
  }
  *out = std::move(v).value();
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  Value a, b;
  std::string ea, eb;
  if (!DecodeChecked(in, &pos, &a, &ea) || pos == in.size()) return 0;
  if (!DecodeChecked(in, &pos, &b, &eb)) return 0;
  const int by_bytes = Sign(std::memcmp(ea.data(), eb.data(), std::min(ea.size(), eb.size())));
  const int order = by_bytes != 0 ? by_bytes : Sign(static_cast<int>(ea.size()) - static_cast<int>(eb.size()));
  FUZZ_CHECK(Sign(Value::Compare(a, b)) == order, a.ToString() + " vs " + b.ToString());
  FUZZ_CHECK(Sign(Value::Compare(b, a)) == -order, a.ToString() + " vs " + b.ToString());
  if (order == 0) FUZZ_CHECK(a.Hash() == b.Hash(), a.ToString());
  return 0;
}
