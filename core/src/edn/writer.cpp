// The EDN writer: Nodes to text that reads back to equal Nodes.
#include <string>

#include "edn/edn_internal.h"
#include "value/text.h"

namespace datalith::edn {
namespace {

using detail::Hex4;
using detail::IsSurrogate;

// Error messages quote offending forms; long ones are cut to keep messages readable.
constexpr size_t kMaxQuotedForm = 60;

void WriteTo(const Node& n, std::string* out);

void WriteChar(char32_t cp, std::string* out) {
  switch (cp) {
    case '\n': out->append("\\newline"); return;
    case ' ': out->append("\\space"); return;
    case '\t': out->append("\\tab"); return;
    case '\r': out->append("\\return"); return;
    case '\b': out->append("\\backspace"); return;
    case '\f': out->append("\\formfeed"); return;
    default: break;
  }
  // Invisible (control) characters are spelled out so the text stays readable;
  // a surrogate or an out-of-range value cannot be read back either way.
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || IsSurrogate(cp) || cp > 0x10ffff) {
    out->append("\\u");
    out->append(Hex4(cp > 0xffff ? 0xfffd : cp));
    return;
  }
  out->push_back('\\');
  internal::AppendUtf8(cp, out);
}

void WriteItems(const std::vector<Node>& items, const char* sep, std::string* out) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->append(sep);
    WriteTo(items[i], out);
  }
}

void WriteTo(const Node& n, std::string* out) {
  switch (n.kind) {
    case Kind::kNil: out->append("nil"); return;
    case Kind::kBool: out->append(n.b ? "true" : "false"); return;
    case Kind::kLong: out->append(std::to_string(n.i)); return;
    case Kind::kBigInt: out->append(n.text).push_back('N'); return;
    case Kind::kDouble: internal::AppendEdnDouble(n.d, out); return;
    case Kind::kBigDec: out->append(n.text).push_back('M'); return;
    case Kind::kString: internal::AppendEdnString(n.text, out); return;
    case Kind::kChar: WriteChar(n.ch, out); return;
    case Kind::kKeyword: out->append(":").append(n.text); return;
    case Kind::kSymbol: out->append(n.text); return;
    case Kind::kList:
      out->push_back('(');
      WriteItems(n.items, " ", out);
      out->push_back(')');
      return;
    case Kind::kVector:
      out->push_back('[');
      WriteItems(n.items, " ", out);
      out->push_back(']');
      return;
    case Kind::kSet:
      out->append("#{");
      WriteItems(n.items, " ", out);
      out->push_back('}');
      return;
    case Kind::kMap:
      out->push_back('{');
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (i > 0) out->append(i % 2 == 0 ? ", " : " ");
        WriteTo(n.items[i], out);
      }
      out->push_back('}');
      return;
    case Kind::kTagged:
      out->append("#").append(n.text).push_back(' ');
      if (n.items.empty()) {
        out->append("nil");
      } else {
        WriteTo(n.items[0], out);
      }
      return;
    case Kind::kInst: out->append("#inst \"").append(FormatInstant(n.i)).push_back('"'); return;
    case Kind::kUuid: out->append("#uuid \"").append(n.uuid.ToString()).push_back('"'); return;
  }
}

}  // namespace

// ---- writing ----

std::string Write(const Node& node) {
  std::string out;
  WriteTo(node, &out);
  return out;
}

namespace detail {

std::string Quote(const Node& n) {
  std::string text;
  WriteTo(n, &text);
  if (text.size() > kMaxQuotedForm) {
    // Cut on a code point boundary so the message stays valid UTF-8.
    size_t cut = kMaxQuotedForm;
    while (cut > 0 && (static_cast<uint8_t>(text[cut]) & 0xc0) == 0x80) --cut;
    text.resize(cut);
    text.append("...");
  }
  return text;
}

}  // namespace detail

}  // namespace datalith::edn
