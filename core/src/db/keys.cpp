#include "db/keys.h"

namespace datalith::internal {

void EncodeKey(IndexType index, const Datom& d, bool history, std::string* out) {
  std::string value;
  EntityId ref = 0;
  if (index == IndexType::kVaet) {
    ref = d.v.ref();
  } else {
    EncodeValue(d.v, &value);
  }
  size_t at = out->size();
  out->resize(at + KeySize(index, value.size(), history));
  char* p = out->data() + at;
  if (history) {
    WriteHistoryKey(p, index, d.e, d.a, value, ref, d.tx, d.added);
  } else {
    WriteKey(p, index, d.e, d.a, value, ref, d.tx);
  }
}

Status DecodeKey(IndexType index, std::string_view key, bool history, Datom* out) {
  size_t pos = 0;
  auto fixed = [&](uint64_t* v) {
    if (key.size() - pos < 8) return false;
    *v = GetFixed64BE(key.data() + pos);
    pos += 8;
    return true;
  };
  auto value = [&]() { return DecodeValueInto(key, &pos, &out->v); };
  bool ok = true;
  switch (index) {
    case IndexType::kEavt:
      ok = fixed(&out->e) && fixed(&out->a);
      if (ok) DL_RETURN_IF_ERROR(value());
      break;
    case IndexType::kAevt:
      ok = fixed(&out->a) && fixed(&out->e);
      if (ok) DL_RETURN_IF_ERROR(value());
      break;
    case IndexType::kAvet:
      ok = fixed(&out->a);
      if (ok) DL_RETURN_IF_ERROR(value());
      ok = ok && fixed(&out->e);
      break;
    case IndexType::kVaet: {
      uint64_t v = 0;
      ok = fixed(&v) && fixed(&out->a) && fixed(&out->e);
      out->v = Value::Ref(v);
      break;
    }
  }
  ok = ok && fixed(&out->tx);
  out->added = true;
  if (ok && history) {
    // Only 0 and 1 are written: any other flag would decode as a datom whose key the
    // writer never makes, so lookups by its key could not find it.
    ok = pos < key.size() && static_cast<uint8_t>(key[pos]) <= 1;
    if (ok) out->added = key[pos++] != 0;
  }
  if (!ok || pos != key.size()) return Status::Corruption("malformed datom key");
  return Status::Ok();
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c != 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

}  // namespace datalith::internal
