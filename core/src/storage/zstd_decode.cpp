// zstd's decoder behind storage/blob.h's ZstdDecode: a file of its own so that the WASM
// build for local databases only can link a stand-in instead (wasm/CMakeLists.txt).
#include <zstd.h>

#include "storage/blob.h"

namespace datalith {

Result<std::string> ZstdDecode(std::string_view frame, size_t max, const Address& addr) {
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > max)
    return Corrupt(addr, "bad zstd frame");
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), size, frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size)
    return Corrupt(addr, std::string("zstd: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
  return out;
}

}  // namespace datalith
