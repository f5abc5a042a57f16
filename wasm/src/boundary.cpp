#include "boundary.h"

#include "json_writer.h"

namespace datalith::wasm {

using emscripten::val;

namespace {
int next_handle = 1;
}  // namespace

int NextHandle() { return next_handle++; }

Status UnknownHandle(const char* kind, int id) {
  return Status::Invalid(std::string("unknown ") + kind + " handle " + std::to_string(id));
}

Registry<StoreEntry> stores("store");
Registry<std::shared_ptr<Connection>> conns("connection");
Registry<Db> dbs("db");

std::string Describe(const Json& j) {
  if (j.is_string()) return "\"" + j.get_ref<const std::string&>() + "\"";
  return std::string("a JSON ") + j.type_name();
}

Result<Json> ParseJson(const std::string& text, const char* what) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Invalid(std::string(what) + ": malformed JSON");
  return j;
}

// One out-of-line copy for every call keeps the wasm small.
std::string RespondText(const std::function<Result<std::string>()>& f) {
  Status error;
  try {
    Result<std::string> r = f();
    if (r.status().code() == Code::kMissingNode) return "{\"missing\":true}";
    for (const auto& [_, s] : stores.items()) {
      if (s.buffer) s.buffer->Trim();
    }
    if (r.ok()) return "{\"ok\":" + std::move(r).value() + "}";
    error = r.status();
  } catch (const std::exception& e) {
    error = Status::Internal(std::string("internal error: ") + e.what());
  } catch (...) {
    error = Status::Internal("internal error");
  }
  JsonOut out;
  out.put("{\"error\":");
  AppendString(error.message(), &out);
  out.put(",\"code\":\"");
  out.put(CodeName(error.code()));
  out.put("\"}");
  return out.Take();
}

void ThrowJs(const std::string& message, const char* code) {
  val error = val::global("Error").new_(val(message));
  error.set("code", val(code));
  error.throw_();
  __builtin_unreachable();
}

void DescribeCaught(std::string* message, const char** code) {
  try {
    throw;
  } catch (const StatusError& e) {
    *message = e.status.message();
    *code = CodeName(e.status.code());
  } catch (const std::invalid_argument& e) {
    *message = e.what();
    *code = CodeName(Code::kInvalidArgument);
  } catch (const std::exception& e) {
    *message = e.what();
    *code = CodeName(Code::kInternal);
  } catch (...) {
    *message = "internal error";
    *code = CodeName(Code::kInternal);
  }
}

val Bytes(std::string_view s) {
  // new Uint8Array(view) copies out of the wasm heap.
  return val::global("Uint8Array")
      .new_(val(emscripten::typed_memory_view(s.size(), reinterpret_cast<const uint8_t*>(s.data()))));
}

}  // namespace datalith::wasm
