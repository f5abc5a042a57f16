// JSON replies of the raw tier (docs/wasm.md, "JSON value encoding"), written as text.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datalith/db.h"
#include "datalith/query.h"

namespace datalith::wasm {

// The writers' output: an append is a bounds check and a copy into a std::string
// grown by doubling. (With this toolchain's libc++, std::string::append and push_back
// are out-of-line calls into the prebuilt library, each making several more calls:
// docs/wasm.md, "Size and speed".)
class JsonOut {
 public:
  void put(char c) {
    Need(1);
    *end_++ = c;
  }
  void put(std::string_view s) {
    Need(s.size());
    std::memcpy(end_, s.data(), s.size());
    end_ += s.size();
  }
  size_t size() const { return used(); }
  char back() const { return end_[-1]; }  // the last byte written; size() > 0
  void Truncate(size_t n) {  // n <= size()
    if (end_) end_ = s_.data() + n;
  }
  std::string_view Since(size_t n) const { return {s_.data() + n, used() - n}; }  // n <= size()
  std::string Take() {
    s_.resize(used());
    end_ = cap_ = nullptr;
    return std::move(s_);
  }

 private:
  size_t used() const { return end_ ? static_cast<size_t>(end_ - s_.data()) : 0; }
  void Need(size_t n) {
    if (static_cast<size_t>(cap_ - end_) < n) Grow(n);
  }
  [[gnu::noinline]] void Grow(size_t n) {  // out of line: 1 call site's worth of code, not one per put
    size_t used = this->used();
    s_.resize(std::max(2 * s_.size(), used + n + 256));
    end_ = s_.data() + used;
    cap_ = s_.data() + s_.size();
  }

  std::string s_;  // [data, end_) written, [end_, cap_) spare
  char* end_ = nullptr;
  char* cap_ = nullptr;
};

// `s` as a JSON string; `prefix`: JSON text put before it inside the quotes.
void AppendString(std::string_view s, JsonOut* out, std::string_view prefix = {});
// A long; beyond 2^53 as {"#long": "digits"}.
void AppendLong(int64_t v, JsonOut* out);
// An EDN node (pull results, aggregates, EDN data).
void AppendJson(const edn::Node& n, JsonOut* out);
// Pull results written as JSON as the puller goes (docs/wasm.md, the raw tier's
// `dbPullMany`):
// {"r": [result...], "k": [shape...]}. A result is null or an entity's map as a row,
// [value..., shape]: its values in order, then the index in "k" of its keys (each
// shape is the list of a row's keys, so 20 000 rows with the same keys name them
// once). Maps nested in a row are JSON objects. Separators follow from the last byte
// written: a value or key after `[`, `{` or a key's `:` starts its collection, any
// other follows an item. So a Rollback is a truncation (and drops the row's keys
// recorded at or after it). A writer serves one PullMany call: it keeps its keys by
// their nodes' addresses (PullWriter::Key's contract: a key node lives, unchanged,
// for the call).
class JsonPullWriter final : public PullWriter {
 public:
  explicit JsonPullWriter(JsonOut* out) : out_(*out) { out_.put("{\"r\":["); }
  void BeginMap(size_t) override;
  void EndMap() override;
  void BeginVector() override { Open('['); }
  void EndVector() override { Close(']'); }
  void Key(const edn::Node& key) override;
  void Scalar(const Value& value) override;
  void Data(const edn::Node& node) override;
  void Nil() override;
  // The depth above the bytes written (the output stays far below 4 GB in wasm32).
  uint64_t Mark() const override { return uint64_t{depth_} << 32 | out_.size(); }
  void Rollback(uint64_t mark) override;
  // Closes the results and writes the shapes; nothing may follow.
  void Finish();

 private:
  void Separate() {
    const char c = out_.back();
    if (c != '[' && c != '{' && c != ':') out_.put(',');
  }
  void Open(char c) {
    Separate();
    out_.put(c);
    ++depth_;
  }
  void Close(char c) {
    out_.put(c);
    --depth_;
  }
  uint32_t KeyId(const edn::Node& key);
  uint32_t ShapeId();

  JsonOut& out_;
  uint32_t depth_ = 0;  // open maps and vectors below the results: 1 in a row
  // The keys: their JSON text (a string), found by text, and by node address in a
  // direct-mapped cache in front (a pattern's and a wildcard's key nodes are few).
  std::vector<std::string> keys_;
  // (Maps to EntityId, as Schema's does: one instantiation of the map in the module.)
  std::unordered_map<std::string, EntityId> key_ids_;
  struct Cached {
    const edn::Node* node = nullptr;
    uint32_t id = 0;
  };
  static constexpr size_t kCached = 64;
  Cached cached_[kCached];
  JsonOut text_;  // a key's text being looked up
  // The open row's keys, and where each one's value starts in the output.
  std::vector<uint32_t> row_keys_;
  std::vector<size_t> row_at_;
  // The shapes: lists of key ids, found by their bytes; `last_shape_` is tried first.
  std::vector<std::vector<uint32_t>> shapes_;
  std::unordered_map<std::string, EntityId> shape_ids_;
  uint32_t last_shape_ = 0;
};

// Datoms as [[e, a, v, tx, added]...], `a` as the attribute's name.
void AppendDatoms(const Db& db, const std::vector<Datom>& datoms, JsonOut* out);
// A query's answer as AppendJson(ToEdn(table)) writes it, without the EDN nodes of its
// plain values: relations and collections are arrays, :keys rows objects.
void AppendTable(const QueryTable& t, JsonOut* out);
// The cells of a relation or collection of plain numbers (longs and refs within ±2^53,
// finite doubles: what JSON.parse would give as JS numbers), row by row, into
// `numbers`; false (and `numbers` unspecified) for any other answer.
bool TableNumbers(const QueryTable& t, std::vector<double>* numbers);

}  // namespace datalith::wasm
