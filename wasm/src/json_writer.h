// JSON replies of the raw tier (docs/wasm.md, "JSON value encoding"), written as text.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
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
    if (static_cast<size_t>(cap_ - end_) >= n) return;
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
// Pull results written as JSON as the puller goes (AppendJson of the nodes PullMany
// would give, without the nodes). Separators follow from the last byte written: a
// value or key after `[`, `{` or a key's `:` starts its collection, any other follows
// an item. So a Rollback is a truncation. A writer serves one PullMany call: it keeps
// the JSON text of the keys it has written by their nodes' addresses (PullWriter::Key's
// contract: a key node lives, unchanged, for the call).
class JsonPullWriter final : public PullWriter {
 public:
  explicit JsonPullWriter(JsonOut* out) : out_(*out) {}
  void BeginMap(size_t) override { Item('{'); }
  void EndMap() override { out_.put('}'); }
  void BeginVector() override { Item('['); }
  void EndVector() override { out_.put(']'); }
  void Key(const edn::Node& key) override;
  void Scalar(const Value& value) override;
  void Data(const edn::Node& node) override;
  void Nil() override;
  uint64_t Mark() const override { return out_.size(); }
  void Rollback(uint64_t mark) override { out_.Truncate(static_cast<size_t>(mark)); }

 private:
  void Separate() {
    if (out_.size() == 0) return;
    const char c = out_.back();
    if (c != '[' && c != '{' && c != ':') out_.put(',');
  }
  void Item(char open) {
    Separate();
    out_.put(open);
  }

  static constexpr size_t kKeys = 16;
  JsonOut& out_;
  size_t keys_ = 0;                        // the first kKeys keys written:
  const edn::Node* key_nodes_[kKeys] = {};  // their nodes
  std::string key_texts_[kKeys];           // and their text, `"name":`
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
