// The blob codec of docs/format.md §2, shared by tree nodes and commit records.
#pragma once

#include <string>
#include <string_view>

#include "datalith/store.h"

namespace datalith {

// The stored form of `canonical`: zstd-compressed when that is smaller (and the build
// has the compressor), raw otherwise.
std::string WrapBlob(const std::string& canonical);
// The canonical bytes of a stored blob, verified against `addr` (Corruption naming the
// address otherwise). VerifyBlob (datalith/store.h) is the public form.
Result<std::string> UnwrapBlob(std::string_view blob, const Address& addr);

}  // namespace datalith
