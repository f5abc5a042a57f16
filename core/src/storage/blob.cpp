// The blob codec (docs/format.md §2): what a store holds for a node or a commit record
// is one codec byte, then the canonical bytes (raw) or one zstd frame of them. The
// address is XXH3-128 of the canonical bytes, so it does not depend on the codec.
#include "storage/blob.h"

#ifndef DATALITH_NO_ZSTD_COMPRESS
#include <zstd.h>

#include <memory>
#endif

namespace datalith {
namespace {

// Blob codecs. Do not renumber.
constexpr uint8_t kCodecRaw = 0;
constexpr uint8_t kCodecZstd = 1;
#ifndef DATALITH_NO_ZSTD_COMPRESS
// Fast level: node blobs are small and written on every flush. Level -1 (zstd's
// first "fast" level) compresses prefix-compressed nodes within ~1% of level 1 and
// takes noticeably less time on a bulk load.
constexpr int kZstdLevel = -1;
#endif
constexpr size_t kMaxNodeBytes = 64 << 20;

}  // namespace

Status Corrupt(const Address& addr, const std::string& what) {
  return Status::Corruption("node " + addr.Hex() + ": " + what);
}

std::string WrapBlob(const std::string& canonical) {
#ifdef DATALITH_NO_ZSTD_COMPRESS
  // Builds without zstd's compressor (docs/wasm.md) write raw blobs; the address is
  // of the canonical bytes, so it is the same either way.
  std::string out(1, static_cast<char>(kCodecRaw));
  out.append(canonical);
  return out;
#else
  std::string out;
  size_t bound = ZSTD_compressBound(canonical.size());
  out.resize(1 + bound);
  // One compression context per thread: creating one per node costs more than
  // compressing a small node.
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(),
                                                                        ZSTD_freeCCtx);
  size_t n = ZSTD_compressCCtx(cctx.get(), out.data() + 1, bound, canonical.data(),
                               canonical.size(), kZstdLevel);
  if (ZSTD_isError(n) || n >= canonical.size()) {
    out.assign(1, static_cast<char>(kCodecRaw));
    out.append(canonical);
    return out;
  }
  out[0] = static_cast<char>(kCodecZstd);
  out.resize(1 + n);
  return out;
#endif
}

Result<std::string> UnwrapBlob(std::string_view blob, const Address& addr) {
  if (blob.empty()) return Corrupt(addr, "empty blob");
  std::string canonical;
  uint8_t codec = static_cast<uint8_t>(blob[0]);
  std::string_view payload = blob.substr(1);
  if (codec == kCodecRaw) {
    canonical.assign(payload);
  } else if (codec == kCodecZstd) {
    DL_ASSIGN_OR_RETURN(canonical, ZstdDecode(payload, kMaxNodeBytes, addr));
  } else {
    return Corrupt(addr, "unknown blob codec " + std::to_string(codec));
  }
  if (Address::Of(canonical) != addr) return Corrupt(addr, "content does not match its address");
  return canonical;
}

Status VerifyBlob(const Address& addr, std::string_view blob) {
  Result<std::string> canonical = UnwrapBlob(blob, addr);
  return canonical.ok() ? Status::Ok() : canonical.status();
}

}  // namespace datalith
