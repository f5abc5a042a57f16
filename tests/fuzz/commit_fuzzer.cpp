// Commit records (core/src/conn/commit.*, docs/format.md §4) and the log segments they
// name (core/src/db/tx_log.*, §4.1): a replica decodes both from bytes a server sent.
// Any bytes either decode or fail with a Corruption naming the commit's address (for a
// log segment: "log segment"). A decoded commit encodes (version 2) to bytes that
// decode to the same commit and encode again to the same bytes; a decoded segment's
// transactions, written again as log records, decode to the same transactions.
#include <cstddef>
#include <cstdint>

#include "conn/commit.h"
#include "db/tx_log.h"
#include "fuzz_check.h"

using namespace datalith;
using namespace datalith::internal;

namespace {

std::string SchemaBytes(const Schema& s) {
  std::string out;
  s.Encode(&out);
  return out;
}

void CheckSame(const Commit& a, const Commit& b) {
  const DbState &x = *a.state, &y = *b.state;
  FUZZ_CHECK(a.parent == b.parent && a.first_tx == b.first_tx && a.log == b.log, "parent, first tx or log");
  FUZZ_CHECK(x.max_tx == y.max_tx && x.max_eid == y.max_eid && x.last_instant == y.last_instant &&
                 x.keep_history == y.keep_history,
             "header fields");
  for (int i = 0; i < kIndexCount; ++i) {
    FUZZ_CHECK(x.current[i].addr == y.current[i].addr && x.current[i].count == y.current[i].count &&
                   x.history[i].addr == y.history[i].addr && x.history[i].count == y.history[i].count,
               "root " + std::to_string(i));
  }
  FUZZ_CHECK(SchemaBytes(*x.schema) == SchemaBytes(*y.schema), "schema");
}

void CheckCommit(std::string_view in) {
  const Address addr = Address::Of(in);
  auto c = DecodeCommit(in, addr, nullptr);
  if (!c.ok()) {
    FUZZ_CHECK_ERROR(c.status(), Code::kCorruption, "commit " + addr.Hex());
    return;
  }
  const std::string bytes = EncodeCommit(*c->state, c->parent, c->first_tx, c->log);
  auto again = DecodeCommit(bytes, Address::Of(bytes), nullptr);
  FUZZ_CHECK(again.ok(), "the re-encoded commit does not decode: " + again.status().ToString());
  CheckSame(*c, *again);
  FUZZ_CHECK(EncodeCommit(*again->state, again->parent, again->first_tx, again->log) == bytes,
             "the commit's encoding is not a fixed point");
}

void CheckLogSegment(std::string_view in) {
  std::vector<LoggedTx> txs;
  Status s = DecodeLogSegment(in, &txs);
  if (!s.ok()) {
    FUZZ_CHECK_ERROR(s, Code::kCorruption, "log segment");
    return;
  }
  std::vector<std::string> records;
  for (const LoggedTx& t : txs) {
    std::string record;
    LogRecordWriter w(&record, t.tx, t.max_eid, t.datoms.size());
    for (const Datom& d : t.datoms) {
      std::string value;
      EncodeValue(d.v, &value);
      w.Add(d.e, d.a, d.added, d.tx, value);
    }
    records.push_back(std::move(record));
  }
  std::vector<LoggedTx> again;
  for (const std::string& segment : PackLogSegments(records)) {
    Status decoded = DecodeLogSegment(segment, &again);
    FUZZ_CHECK(decoded.ok(), "a re-encoded segment does not decode: " + decoded.ToString());
  }
  FUZZ_CHECK(again.size() == txs.size(), std::to_string(again.size()) + " vs " + std::to_string(txs.size()));
  for (size_t i = 0; i < txs.size(); ++i) {
    FUZZ_CHECK(again[i].tx == txs[i].tx && again[i].max_eid == txs[i].max_eid &&
                   again[i].datoms == txs[i].datoms,
               "transaction " + std::to_string(i));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  CheckCommit(in);
  CheckLogSegment(in);
  return 0;
}
