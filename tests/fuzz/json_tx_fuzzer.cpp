// JSON transaction reader (core/src/edn/json_tx.h): any bytes either read into a vector
// of maps or fail with an InvalidArgument that names a byte offset. What reads and is
// valid UTF-8 writes as EDN text that reads back to an equal form.
#include <cstddef>
#include <cstdint>

#include "datalith/edn.h"
#include "edn/json_tx.h"
#include "fuzz_check.h"

using namespace datalith;

namespace {

bool AllUtf8(const edn::Node& n) {
  if (!fuzz::ValidUtf8(n.text)) return false;
  for (const edn::Node& item : n.items) {
    if (!AllUtf8(item)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tx = edn::ReadJsonTx(text);
  if (!tx.ok()) {
    FUZZ_CHECK_ERROR(tx.status(), Code::kInvalidArgument, "JSON transaction data, byte ");
    return 0;
  }
  FUZZ_CHECK(tx->is(edn::Kind::kVector), edn::Write(*tx));
  for (const edn::Node& form : tx->items) FUZZ_CHECK(form.is(edn::Kind::kMap), edn::Write(form));
  if (!AllUtf8(*tx)) return 0;  // the package sends JSON.stringify's text: always UTF-8
  auto again = edn::ReadOne(edn::Write(*tx));
  FUZZ_CHECK(again.ok(), edn::Write(*tx) + ": " + again.status().ToString());
  FUZZ_CHECK(edn::Equal(*again, *tx), edn::Write(*tx));
  return 0;
}
