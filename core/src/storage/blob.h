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
// Corruption of the blob of `addr`: "node <hex>: <what>".
Status Corrupt(const Address& addr, const std::string& what);

// The content of one zstd frame that declares its size, at most `max` bytes: the blob
// of `addr` (Corruption naming it otherwise; storage/zstd_decode.cpp). The WASM build for
// pages with local databases only links a stand-in answering Unsupported instead
// (wasm/src/no_zstd.cpp): its stores hold raw blobs only.
Result<std::string> ZstdDecode(std::string_view frame, size_t max, const Address& addr);

}  // namespace datalith
