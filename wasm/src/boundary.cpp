#include "boundary.h"

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

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Result<Json> ParseJson(const std::string& text, const char* what) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Invalid(std::string(what) + ": malformed JSON");
  return j;
}

// One out-of-line copy for every call keeps the wasm small.
std::string RespondText(const std::function<Result<std::string>()>& f) {
  Json out;
  try {
    Result<std::string> r = f();
    if (r.ok() || r.status().code() != Code::kMissingNode) {
      for (const auto& [_, s] : stores.items()) {
        if (s.buffer) s.buffer->Trim();
      }
    }
    if (r.ok()) return "{\"ok\":" + std::move(r).value() + "}";
    if (r.status().code() == Code::kMissingNode) return "{\"missing\":true}";
    out["error"] = r.status().message();
    out["code"] = CodeName(r.status().code());
  } catch (const std::exception& e) {
    out = Json{{"error", std::string("internal error: ") + e.what()}, {"code", "Internal"}};
  } catch (...) {
    out = Json{{"error", "internal error"}, {"code", "Internal"}};
  }
  return Dump(out);
}

std::string Respond(const std::function<Result<Json>()>& f) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Json j, f());
    return Dump(j);
  });
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
