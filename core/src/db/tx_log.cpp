#include "db/tx_log.h"

#include "util/varint.h"

namespace datalith::internal {
namespace {

constexpr uint8_t kLogVersion = 1;
constexpr uint8_t kKindLog = 4;  // 1, 2 tree nodes, 3 commit records (format.md)

// A record: varint tx, varint max_eid, varint n, then n datoms: varint e, varint a,
// u8 added, (a retraction:) varint asserting tx, varint value length, value encoding.
struct RecordReader {
  std::string_view in;
  size_t pos = 0;

  bool Varint(uint64_t* v) { return GetVarint(in, &pos, v); }
  // Skips one datom; false if it is truncated.
  bool SkipDatom() {
    uint64_t x, len;
    if (!Varint(&x) || !Varint(&x) || pos >= in.size()) return false;
    const bool added = in[pos++] != 0;
    if (!added && !Varint(&x)) return false;
    if (!Varint(&len) || in.size() - pos < len) return false;
    pos += len;
    return true;
  }
};

void PutHeader(std::string* out, uint64_t tx, uint64_t max_eid, uint64_t n) {
  PutVarint(out, tx);
  PutVarint(out, max_eid);
  PutVarint(out, n);
}

}  // namespace

LogRecordWriter::LogRecordWriter(std::string* out, EntityId tx, EntityId max_eid, size_t datoms)
    : out_(out) {
  PutHeader(out, tx, max_eid, datoms);
}

void LogRecordWriter::Add(EntityId e, EntityId a, bool added, EntityId asserted_tx,
                          std::string_view value) {
  char head[4 * kMaxVarint + 1];  // the fields before the value, then one append each
  char* p = StoreVarint(head, e);
  p = StoreVarint(p, a);
  *p++ = added ? 1 : 0;
  if (!added) p = StoreVarint(p, asserted_tx);
  p = StoreVarint(p, value.size());
  out_->append(head, static_cast<size_t>(p - head));
  out_->append(value);
}

std::vector<std::string> PackLogSegments(const std::vector<std::string>& records, size_t target) {
  std::vector<std::string> segments;
  std::string body;
  uint64_t count = 0;
  auto close = [&] {
    if (count == 0) return;
    std::string seg;
    seg.push_back(static_cast<char>(kLogVersion));
    seg.push_back(static_cast<char>(kKindLog));
    PutVarint(&seg, count);
    seg += body;
    segments.push_back(std::move(seg));
    body.clear();
    count = 0;
  };
  for (const std::string& record : records) {
    if (body.size() + record.size() <= target) {
      body += record;
      ++count;
      continue;
    }
    // Too big for what is left of this segment: split it at datom boundaries into
    // records of the same tx (records come from the transactor, so they are well formed).
    RecordReader r{record};
    uint64_t tx = 0, max_eid = 0, n = 0;
    r.Varint(&tx);
    r.Varint(&max_eid);
    r.Varint(&n);
    while (n > 0) {
      if (!body.empty() && body.size() >= target / 2) close();
      const size_t room = target > body.size() ? target - body.size() : 0;
      size_t start = r.pos, taken = 0;
      while (taken < n && (taken == 0 || r.pos - start < room)) {
        r.SkipDatom();
        ++taken;
      }
      PutHeader(&body, tx, max_eid, taken);
      body.append(record, start, r.pos - start);
      ++count;
      n -= taken;
      if (n > 0) close();
    }
  }
  close();
  return segments;
}

Status DecodeLogSegment(std::string_view in, std::vector<LoggedTx>* out) {
  auto bad = [](const std::string& what) { return Status::Corruption("log segment: " + what); };
  if (in.size() < 2 || static_cast<uint8_t>(in[0]) != kLogVersion)
    return bad("unsupported log version");
  if (static_cast<uint8_t>(in[1]) != kKindLog) return bad("not a log segment");
  RecordReader r{in, 2};
  uint64_t records;
  if (!r.Varint(&records)) return bad("truncated header");
  for (uint64_t i = 0; i < records; ++i) {
    uint64_t tx, max_eid, n;
    if (!r.Varint(&tx) || !r.Varint(&max_eid) || !r.Varint(&n)) return bad("truncated record");
    if (out->empty() || out->back().tx != tx) {
      if (!out->empty() && tx <= out->back().tx) return bad("transactions out of order");
      out->push_back(LoggedTx{tx, max_eid, {}});
    }
    LoggedTx& t = out->back();
    t.max_eid = max_eid;
    if (n > in.size()) return bad("datom count past the end");
    t.datoms.reserve(t.datoms.size() + n);
    for (uint64_t k = 0; k < n; ++k) {
      Datom d;
      uint64_t len;
      if (!r.Varint(&d.e) || !r.Varint(&d.a) || r.pos >= in.size()) return bad("truncated datom");
      d.added = in[r.pos++] != 0;
      d.tx = tx;
      if (!d.added && !r.Varint(&d.tx)) return bad("truncated datom");
      if (!r.Varint(&len) || in.size() - r.pos < len) return bad("truncated value");
      size_t vpos = r.pos;
      auto v = DecodeValue(in.substr(0, r.pos + len), &vpos);
      if (!v.ok() || vpos != r.pos + len) return bad("malformed value");
      d.v = std::move(v).value();
      r.pos += len;
      t.datoms.push_back(std::move(d));
    }
  }
  if (r.pos != in.size()) return bad("trailing bytes");
  return Status::Ok();
}

}  // namespace datalith::internal
