#include "conn/commit.h"

#include <cstring>

#include "util/varint.h"

namespace datalith::internal {
namespace {

// Version 1 (before the log) is still read: its commits have no log segments.
constexpr uint8_t kCommitVersion = 2;
constexpr uint8_t kKindCommit = 3;  // node kinds 1, 2 are tree nodes (docs/format.md)

void PutAddress(std::string* out, const Address& a) {
  out->append(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
}

bool GetAddress(std::string_view in, size_t* pos, Address* a) {
  if (in.size() - *pos < a->bytes.size()) return false;
  std::memcpy(a->bytes.data(), in.data() + *pos, a->bytes.size());
  *pos += a->bytes.size();
  return true;
}

}  // namespace

std::string EncodeCommit(const DbState& s, const Address& parent, EntityId first_tx,
                         const std::vector<Address>& log) {
  std::string out;
  out.push_back(static_cast<char>(kCommitVersion));
  out.push_back(static_cast<char>(kKindCommit));
  PutAddress(&out, parent);
  PutVarint(&out, first_tx);
  PutVarint(&out, s.max_tx);
  PutVarint(&out, s.max_eid);
  PutFixed64BE(&out, static_cast<uint64_t>(s.last_instant));
  out.push_back(s.keep_history ? 1 : 0);
  for (const auto* trees : {s.current, s.history}) {
    for (int i = 0; i < kIndexCount; ++i) {
      PutAddress(&out, trees[i].empty() ? Address() : trees[i].address());
      PutVarint(&out, trees[i].count);
    }
  }
  s.schema->Encode(&out);
  PutVarint(&out, log.size());
  for (const Address& a : log) PutAddress(&out, a);
  return out;
}

Result<Commit> DecodeCommit(std::string_view in, const Address& addr,
                            const std::shared_ptr<index::NodeSource>& src) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption("commit " + addr.Hex() + ": " + what);
  };
  const uint8_t version = in.empty() ? 0 : static_cast<uint8_t>(in[0]);
  if (in.size() < 2 || version < 1 || version > kCommitVersion) {
    return bad("commit version " + std::to_string(version) + " is not one this build reads (1 to " +
               std::to_string(kCommitVersion) + "): written by a newer Datalith?");
  }
  if (static_cast<uint8_t>(in[1]) != kKindCommit) return bad("not a commit record");
  size_t pos = 2;
  Commit c;
  c.state = std::make_shared<DbState>();
  DbState& s = *c.state;
  s.src = src;
  s.commit = addr;
  uint64_t max_tx, max_eid;
  if (!GetAddress(in, &pos, &c.parent) || !GetVarint(in, &pos, &c.first_tx) ||
      !GetVarint(in, &pos, &max_tx) || !GetVarint(in, &pos, &max_eid) || in.size() - pos < 9)
    return bad("truncated header");
  s.max_tx = max_tx;
  s.max_eid = max_eid;
  s.last_instant = static_cast<int64_t>(GetFixed64BE(in.data() + pos));
  pos += 8;
  s.keep_history = in[pos++] != 0;
  for (auto* trees : {s.current, s.history}) {
    for (int i = 0; i < kIndexCount; ++i) {
      if (!GetAddress(in, &pos, &trees[i].addr) || !GetVarint(in, &pos, &trees[i].count))
        return bad("truncated roots");
      if (trees[i].addr.IsZero() != (trees[i].count == 0)) return bad("root count mismatch");
    }
  }
  auto schema = Schema::Decode(in, &pos);
  if (!schema.ok()) return bad(schema.status().message());
  s.schema = std::move(schema).value();
  if (version >= 2) {
    uint64_t n;
    if (!GetVarint(in, &pos, &n) || n > (in.size() - pos) / 16) return bad("truncated log list");
    c.log.resize(n);
    for (Address& a : c.log) GetAddress(in, &pos, &a);
  }
  if (pos != in.size()) return bad("trailing bytes");
  return c;
}

}  // namespace datalith::internal

namespace datalith {

Result<std::vector<Address>> BlobRefs(const Address& addr, std::string_view blob, bool is_commit) {
  DL_ASSIGN_OR_RETURN(std::string canonical, UnwrapBlob(blob, addr));
  std::vector<Address> out;
  if (is_commit) {
    DL_ASSIGN_OR_RETURN(internal::Commit c, internal::DecodeCommit(canonical, addr, nullptr));
    for (const auto* trees : {c.state->current, c.state->history}) {
      for (int i = 0; i < kIndexCount; ++i) {
        if (!trees[i].empty()) out.push_back(trees[i].addr);
      }
    }
    return out;
  }
  DL_ASSIGN_OR_RETURN(index::NodePtr n, index::DecodeNode(canonical, addr));
  if (n->leaf()) return out;
  for (const index::Child& c : n->children()) out.push_back(c.address());
  return out;
}

}  // namespace datalith

namespace datalith::internal {

Result<Commit> LoadCommit(Store& store, const Address& addr,
                          const std::shared_ptr<index::NodeSource>& src) {
  DL_ASSIGN_OR_RETURN(std::string blob, store.Get(addr));
  DL_ASSIGN_OR_RETURN(std::string canonical, UnwrapBlob(blob, addr));
  return DecodeCommit(canonical, addr, src);
}

}  // namespace datalith::internal
