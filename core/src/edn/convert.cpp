// Conversion between EDN nodes and datom Values.
#include <charconv>
#include <limits>

#include "edn/edn_internal.h"

namespace datalith::edn {

using detail::ErrorAt;
using detail::KindName;
using detail::Quote;

// ---- conversions ----

Result<Value> ToValue(const Node& node) {
  switch (node.kind) {
    case Kind::kNil: return Value::Nil();
    case Kind::kBool: return Value::Boolean(node.b);
    case Kind::kLong: return Value::Long(node.i);
    case Kind::kDouble: return Value::Double(node.d);
    case Kind::kString: return Value::String(node.text);
    case Kind::kKeyword: return Value::Keyword(node.text);
    case Kind::kSymbol: return Value::Symbol(node.text);
    case Kind::kInst: return Value::Instant(node.i);
    case Kind::kUuid: return Value::MakeUuid(node.uuid);
    case Kind::kBigInt: {
      int64_t v = 0;
      const char* end = node.text.data() + node.text.size();
      auto res = std::from_chars(node.text.data(), end, v);
      if (res.ec != std::errc() || res.ptr != end) {
        return ErrorAt(node.pos, "integer " + node.text + "N does not fit in 64 bits");
      }
      return Value::Long(v);
    }
    case Kind::kVector: {
      std::vector<Value> items;
      items.reserve(node.items.size());
      for (const Node& item : node.items) {
        DL_ASSIGN_OR_RETURN(Value v, ToValue(item));
        items.push_back(std::move(v));
      }
      return Value::Tuple(std::move(items));
    }
    default:
      return ErrorAt(node.pos, std::string("a ") + KindName(node.kind) + " (" + Quote(node) +
                                   ") cannot be used as a value");
  }
}

Node FromValue(const Value& v) {
  switch (v.type()) {
    case ValueType::kNil: return Node::Nil();
    case ValueType::kBoolean: return Node::Bool(v.boolean());
    case ValueType::kLong: return Node::Long(v.long_value());
    case ValueType::kDouble: return Node::Double(v.double_value());
    case ValueType::kString: return Node::String(v.str());
    case ValueType::kKeyword: return Node::Keyword(v.str());
    case ValueType::kSymbol: return Node::Symbol(v.str());
    case ValueType::kRef: {
      if (v.ref() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Node::Long(static_cast<int64_t>(v.ref()));
      }
      Node n;  // not an entity id Datalith allocates, but keep the digits exact
      n.kind = Kind::kBigInt;
      n.text = std::to_string(v.ref());
      return n;
    }
    case ValueType::kInstant: return Node::Inst(v.instant());
    case ValueType::kUuid: return Node::MakeUuid(v.uuid());
    case ValueType::kTuple: {
      std::vector<Node> items;
      items.reserve(v.tuple().size());
      for (const Value& item : v.tuple()) items.push_back(FromValue(item));
      return Node::Coll(Kind::kVector, std::move(items));
    }
  }
  return Node::Nil();
}

}  // namespace datalith::edn
