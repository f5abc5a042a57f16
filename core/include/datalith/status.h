// Status and Result<T>: errors as values at the core API.
//
// Every operation that can fail on user input, storage or the network returns a
// Status or a Result<T>. Messages name the thing and the position ("line 1, col 14:
// unknown function `foo`"). Assertions are only for programmer errors that user
// input can never reach. Both types are plain values: copyable, thread-compatible.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace datalith {

// Do not renumber: codes cross the WASM boundary and the sync protocol.
enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,  // malformed input: EDN, transaction, query, argument
  kNotFound = 2,         // a blob, head, entity or database that does not exist
  kCorruption = 3,       // stored bytes that fail to decode or verify
  kIOError = 4,          // the storage backend failed
  kConflict = 5,         // compare-and-set lost, :db/cas mismatch, unique conflict
  kMissingNode = 6,      // a node is not loaded yet (asynchronous stores); retry
  kUnsupported = 7,
  kInternal = 8,
};

const char* CodeName(Code code);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status Invalid(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status Conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
  static Status MissingNode(std::string m) { return Status(Code::kMissingNode, std::move(m)); }
  static Status Unsupported(std::string m) { return Status(Code::kUnsupported, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (keeps the code).
  Status WithContext(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or an error. Accessing value() of an error is a programmer error.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {     // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<1>(v_);
  }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace datalith

#define DL_CONCAT_INNER(a, b) a##b
#define DL_CONCAT(a, b) DL_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define DL_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::datalith::Status dl_status_ = (expr);      \
    if (!dl_status_.ok()) return dl_status_;     \
  } while (0)

// `DL_ASSIGN_OR_RETURN(auto x, F());` binds x to F()'s value or returns its error.
#define DL_ASSIGN_OR_RETURN(lhs, expr) \
  DL_ASSIGN_OR_RETURN_IMPL(DL_CONCAT(dl_result_, __LINE__), lhs, expr)
#define DL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
