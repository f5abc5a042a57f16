// The transaction log (docs/format.md §4.1): each commit names log segments, blobs that
// hold the datoms of its transactions. A log record is one transaction (or a part of a
// large one): its tx id, the highest entity id after it, and its datoms. A retraction
// carries the tx that asserted the datom, as the index keys do, so a replica can replay
// the record on the trees it holds (tx/replay.cpp); readers report it with the
// retracting tx instead.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "datalith/datom.h"
#include "datalith/status.h"

namespace datalith::internal {

struct LoggedTx {
  EntityId tx = 0;
  EntityId max_eid = 0;  // the database's highest entity id after the transaction
  std::vector<Datom> datoms;  // EAVT order; a retraction's tx is its assertion's
};

// Appends the record of one transaction: its datoms given with their value encodings
// (EncodeValue), as the transactor has them.
class LogRecordWriter {
 public:
  LogRecordWriter(std::string* out, EntityId tx, EntityId max_eid, size_t datoms);
  // A retraction gives the tx that asserted the datom.
  void Add(EntityId e, EntityId a, bool added, EntityId asserted_tx, std::string_view value_encoding);

 private:
  std::string* out_;
};

// Segments: log records packed into blobs of about `target` canonical bytes (a record
// larger than that is split into records of the same tx).
inline constexpr size_t kLogSegmentTarget = 64 * 1024;
std::vector<std::string> PackLogSegments(const std::vector<std::string>& records,
                                         size_t target = kLogSegmentTarget);
// Decodes a segment's canonical bytes; parts of one transaction come back merged.
// Corruption names what is wrong.
Status DecodeLogSegment(std::string_view canonical, std::vector<LoggedTx>* out);

}  // namespace datalith::internal
