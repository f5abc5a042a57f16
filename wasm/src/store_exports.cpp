// Stores and blobs (docs/wasm.md, "Raw tier contract"): creating stores, feeding a
// buffer store what JS read and taking what the core wrote, verifying and
// decompressing blobs that arrive from a sync server.
#include <emscripten/bind.h>

#ifndef DATALITH_WASM_LOCAL
#include <zstd.h>
#endif

#include "boundary.h"

namespace datalith::wasm {
namespace {

using emscripten::val;

int StoreCreate(std::string kind) {
  return Guard([&] {
    StoreEntry e;
    if (kind == "memory") {
      e.store = MakeMemoryStore();
    } else if (kind == "buffer" || kind == "replica") {
      e.buffer = std::make_shared<BufferStore>(/*retain=*/kind == "replica");
      e.store = e.buffer;
    } else {
      throw std::invalid_argument("unknown store kind `" + kind + "` (memory, buffer or replica)");
    }
    return stores.Add(std::move(e));
  });
}

BufferStore& Buffer(int store) {
  StoreEntry& e = stores.Get(store);
  if (!e.buffer) throw std::invalid_argument("store " + std::to_string(store) + " is not a buffer store");
  return *e.buffer;
}

// A blob read by JS (verified when decoded).
void StoreProvide(int store, std::string addr_hex, std::string bytes) {
  Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    Buffer(store).Provide(addr, std::move(bytes));
  });
}

// A blob JS received to be stored with the core's next writes (a replica's log
// segment): pending, so it is neither trimmed nor lost before persist takes it.
void StoreWrite(int store, std::string addr_hex, std::string bytes) {
  Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    Status put = Buffer(store).Put({{addr, std::move(bytes)}});
    if (!put.ok()) throw StatusError(put);
  });
}

// A head's value read by JS (empty: no head).
void StoreProvideHead(int store, std::string name, std::string bytes) {
  Guard([&] {
    Buffer(store).ProvideHead(name, bytes.empty() ? std::nullopt : std::optional(std::move(bytes)));
  });
}

val StoreTakeMissing(int store) {
  return Guard([&] {
    val out = val::array();
    for (const Address& a : Buffer(store).TakeMissing()) out.call<void>("push", val(a.Hex()));
    return out;
  });
}

val StoreTakePending(int store) {
  return Guard([&] {
    BufferStore::Pending p = Buffer(store).TakePending();
    val blobs = val::array();
    for (const auto& [addr, bytes] : p.blobs) {
      val pair = val::array();
      pair.call<void>("push", val(addr.Hex()), Bytes(bytes));
      blobs.call<void>("push", pair);
    }
    val heads = val::array();
    for (const auto& [name, value] : p.heads) {
      val pair = val::array();
      pair.call<void>("push", val(name), Bytes(value));
      heads.call<void>("push", pair);
    }
    val out = val::object();
    out.set("blobs", blobs);
    out.set("heads", heads);
    return out;
  });
}

void StoreRelease(int store) { stores.Release(store); }

// Whether a store holds a blob (a buffer store: holds it now; never recorded as missing).
bool StoreHas(int store, std::string addr_hex) {
  return Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    StoreEntry& e = stores.Get(store);
    if (e.buffer) return e.buffer->Holds(addr);
    return e.store->Get(addr).ok();
  });
}

#ifndef DATALITH_WASM_LOCAL  // the sync client only
// Whether `bytes` is the stored blob of `addr_hex` (docs/format.md §2: codec byte, then
// the canonical bytes or one zstd frame of them; XXH3-128 of the canonical bytes is the
// address). False for a mismatch or a corrupt blob; a malformed address throws.
bool BlobVerify(std::string addr_hex, std::string bytes) {
  return Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    return VerifyBlob(addr, bytes).ok();
  });
}

// The tree blobs a received blob refers to (a commit's roots, a node's children), as
// space-separated hex addresses; throws if it does not verify or decode.
std::string BlobRefsOf(std::string addr_hex, std::string bytes, bool is_commit) {
  return Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    std::string out;
    for (const Address& a : OrThrow(BlobRefs(addr, bytes, is_commit))) {
      if (!out.empty()) out += ' ';
      out += a.Hex();
    }
    return out;
  });
}

// One zstd frame that must declare content size `size` and decompress to exactly that
// many bytes, with nothing after the frame (docs/sync-protocol.md §4). Throws otherwise.
val ZstdDecompress(std::string frame, double size) {
  return Guard([&] {
    if (!(size >= 0) || size > double(uint32_t(-1))) throw std::invalid_argument("zstdDecompress: bad size");
    size_t want = static_cast<size_t>(size);
    size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
    if (ZSTD_isError(frame_size)) throw std::invalid_argument("zstd: not a complete zstd frame");
    if (frame_size != frame.size()) throw std::invalid_argument("zstd: trailing bytes after the frame");
    unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN)
      throw std::invalid_argument("zstd: the frame does not declare its content size");
    if (declared != want)
      throw std::invalid_argument("zstd: the frame holds " + std::to_string(declared) + " bytes, expected " +
                                  std::to_string(want));
    std::string out(want, '\0');
    size_t n = ZSTD_decompress(out.data(), want, frame.data(), frame.size());
    if (ZSTD_isError(n) || n != want) throw std::invalid_argument("zstd: corrupt frame");
    return Bytes(out);
  });
}
#endif

}  // namespace
}  // namespace datalith::wasm

EMSCRIPTEN_BINDINGS(datalith_stores) {
  using namespace datalith::wasm;
  using emscripten::function;
  function("storeCreate", &StoreCreate);
  function("storeProvide", &StoreProvide);
  function("storeProvideHead", &StoreProvideHead);
  function("storeWrite", &StoreWrite);
  function("storeTakeMissing", &StoreTakeMissing);
  function("storeTakePending", &StoreTakePending);
  function("storeRelease", &StoreRelease);
  function("storeHas", &StoreHas);
#ifndef DATALITH_WASM_LOCAL
  function("blobVerify", &BlobVerify);
  function("blobRefs", &BlobRefsOf);
  function("zstdDecompress", &ZstdDecompress);
#endif
}
