#include "sha256.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace datalith::sync {

Digest Sha256(std::string_view data) {
  Digest out;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

bool DigestsEqual(const Digest& a, const Digest& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

}  // namespace datalith::sync
