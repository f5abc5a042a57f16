#include "db/keys.h"

#include "util/varint.h"

namespace datalith::internal {

void EncodeKey(IndexType index, const Datom& d, bool history, std::string* out) {
  switch (index) {
    case IndexType::kEavt:
      PutFixed64BE(out, d.e);
      PutFixed64BE(out, d.a);
      EncodeValue(d.v, out);
      break;
    case IndexType::kAevt:
      PutFixed64BE(out, d.a);
      PutFixed64BE(out, d.e);
      EncodeValue(d.v, out);
      break;
    case IndexType::kAvet:
      PutFixed64BE(out, d.a);
      EncodeValue(d.v, out);
      PutFixed64BE(out, d.e);
      break;
    case IndexType::kVaet:
      PutFixed64BE(out, d.v.ref());
      PutFixed64BE(out, d.a);
      PutFixed64BE(out, d.e);
      break;
  }
  PutFixed64BE(out, d.tx);
  if (history) out->push_back(d.added ? 1 : 0);
}

Status DecodeKey(IndexType index, std::string_view key, bool history, Datom* out) {
  size_t pos = 0;
  auto fixed = [&](uint64_t* v) {
    if (key.size() - pos < 8) return false;
    *v = GetFixed64BE(key.data() + pos);
    pos += 8;
    return true;
  };
  auto value = [&]() -> Status {
    DL_ASSIGN_OR_RETURN(out->v, DecodeValue(key, &pos));
    return Status::Ok();
  };
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
    ok = pos < key.size();
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
