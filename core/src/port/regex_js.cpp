// port/regex.h in the WASM build: the JS engine's RegExp, through one EM_JS bridge.
// Compiles to nothing natively, where regex_std.cpp is used.
#ifdef __EMSCRIPTEN__

#include <emscripten.h>

#include <cstdlib>

#include "datalith/edn.h"
#include "port/regex.h"

// Run once per call of a regex function, not per datom: compiled for size, like the
// string functions that call it (docs/wasm.md).
#pragma clang attribute push(__attribute__((minsize)), apply_to = function)

namespace datalith::port {
namespace {

// Runs one operation with a JS RegExp and answers EDN text: a match as a string (or
// [match g1 ...] with groups, nil for a group that did not take part), nil for no
// match, a vector of those for re-seq and split, or {:error "..."}.
EM_JS(char*, datalith_js_regex, (int op, const char* pattern_c, const char* subject_c, double limit), {
  const out = (text) => {
    const n = lengthBytesUTF8(text) + 1;
    const p = _malloc(n);
    stringToUTF8(text, p, n);
    return p;
  };
  const edn = (v) => (v === undefined || v === null ? 'nil' : JSON.stringify(v));
  const groups = (m) => (m.length === 1 ? edn(m[0]) : '[' + Array.from(m, edn).join(' ') + ']');
  const pattern = UTF8ToString(pattern_c);
  const s = UTF8ToString(subject_c);
  let re;
  try {
    re = new RegExp(op === 1 ? '^(?:' + pattern + ')$' : pattern, op === 2 || op === 3 ? "g" : "");
  } catch (e) {
    return out('{:error ' + JSON.stringify(String(e && e.message)) + '}');
  }
  if (op === 4) return out('true');
  if (op === 0 || op === 1) {
    const m = re.exec(s);
    return out(m ? groups(m) : 'nil');
  }
  if (op === 2) {
    const all = Array.from(s.matchAll(re), groups);
    return out(all.length ? '[' + all.join(' ') + ']' : 'nil');
  }
  const parts = [];  // split, with Java's rules for the limit (as the native code)
  let start = 0;
  for (const m of s.matchAll(re)) {
    if (limit > 0 && parts.length + 1 >= limit) break;
    if (m[0].length === 0 && m.index === 0) continue;
    parts.push(s.slice(start, m.index));
    start = m.index + m[0].length;
  }
  const split = parts.length > 0;
  parts.push(s.slice(start));
  if (split && limit === 0) while (parts.length && parts[parts.length - 1] === "") parts.pop();
  return out('[' + parts.map(edn).join(' ') + ']');
});

}  // namespace

// The JS engine compiles the pattern in each operation (RunRegex).
Status CompileRegex(const std::string&) { return Status::Ok(); }

// The bridge answers EDN text, read back into a Value. The op numbers are RegexOp's.
Result<Value> RunRegex(RegexOp op, const std::string& pattern, std::string_view subject,
                       int64_t limit) {
  std::string subject_z(subject);
  char* text = datalith_js_regex(static_cast<int>(op), pattern.c_str(), subject_z.c_str(),
                                 static_cast<double>(limit));
  auto node = edn::ReadOne(text);
  free(text);
  if (!node.ok()) return Status::Invalid("regular expression result: " + node.status().message());
  if (const edn::Node* err = node->GetKeyword("error")) {
    return Status::Invalid("invalid regular expression " + Value::String(pattern).ToString() +
                           ": " + err->text);
  }
  return edn::ToValue(*node);
}

}  // namespace datalith::port

#pragma clang attribute pop

#endif  // __EMSCRIPTEN__
