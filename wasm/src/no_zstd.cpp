// The stand-in for storage/zstd_decode.cpp in the module for local databases only
// (datalith_wasm_local, `datalith/local`): the stores of such a page hold the raw blobs
// the core writes, so zstd's decoder is left out. A compressed blob can only come from
// a server (a replica's store), which `datalith/local` does not open.
#include "storage/blob.h"

namespace datalith {

Result<std::string> ZstdDecode(std::string_view, size_t, const Address& addr) {
  return Status::Unsupported("node " + addr.Hex() +
                             ": a zstd-compressed blob (a server's): datalith/local reads the "
                             "local databases the package writes; import 'datalith' to read it");
}

}  // namespace datalith
