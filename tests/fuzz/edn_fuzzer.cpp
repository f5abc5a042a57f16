// EDN reader (core/src/edn): any bytes either read or fail with an InvalidArgument that
// names a line and column. What reads writes back to text that reads to an Equal node
// and writes again to the same text; ReadOne agrees with ReadAll; every string,
// keyword and symbol read is valid UTF-8 (the sync server puts them in JSON); a form
// that converts to a Value converts back from it to an equal Value.
#include <cstddef>
#include <cstdint>

#include "datalith/edn.h"
#include "fuzz_check.h"

using namespace datalith;

namespace {

void CheckTexts(const edn::Node& n) {
  FUZZ_CHECK(fuzz::ValidUtf8(n.text), "text of a " + edn::Write(n));
  for (const edn::Node& item : n.items) CheckTexts(item);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto forms = edn::ReadAll(text);
  auto one = edn::ReadOne(text);
  if (!forms.ok()) {
    FUZZ_CHECK_ERROR(forms.status(), Code::kInvalidArgument, "line ");
    FUZZ_CHECK(!one.ok(), "ReadOne read what ReadAll refused: " + forms.status().ToString());
    return 0;
  }
  FUZZ_CHECK(one.ok() == (forms->size() == 1),
             std::to_string(forms->size()) + " forms; ReadOne: " + one.status().ToString());
  if (!one.ok()) FUZZ_CHECK_ERROR(one.status(), Code::kInvalidArgument, "line ");
  if (one.ok()) FUZZ_CHECK(edn::Equal(*one, (*forms)[0]), edn::Write(*one));

  for (const edn::Node& n : *forms) {
    CheckTexts(n);
    const std::string written = edn::Write(n);
    auto again = edn::ReadOne(written);
    FUZZ_CHECK(again.ok(), written + " does not read back: " + again.status().ToString());
    FUZZ_CHECK(edn::Equal(n, *again), written + " reads back as " + edn::Write(*again));
    FUZZ_CHECK(edn::Write(*again) == written, written + " rewrites as " + edn::Write(*again));

    auto v = edn::ToValue(n);
    if (!v.ok()) {
      FUZZ_CHECK_ERROR(v.status(), Code::kInvalidArgument, "line ");
      continue;
    }
    auto back = edn::ToValue(edn::FromValue(*v));
    FUZZ_CHECK(back.ok() && *back == *v, written + " as a value: " + v->ToString() + ", back: " +
                                             (back.ok() ? back->ToString() : back.status().ToString()));
  }
  return 0;
}
