// Transaction data as JSON text, read into the EDN forms the npm package's EDN text
// would give (wasm/js/edn.js's conventions). The package sends an array of plain
// objects this way (JSON.stringify is native, and this reader has less to do than the
// EDN reader); anything else, and any transaction that fails, goes as EDN text.
#pragma once

#include <string_view>

#include "datalith/edn.h"
#include "datalith/status.h"

namespace datalith::edn {

// A JSON array of objects: an object is a map with keyword keys (a leading ':' is
// dropped), a string starting with ':' a keyword and one starting with '\' the string
// after it, an integer a long, another number a double, true/false/null as in EDN; the
// :db/id of a transaction's map given as [attr, v] is a lookup ref (attr a keyword).
// Invalid, saying where (a byte offset), for anything else: malformed JSON, an integer
// beyond 64 bits, an invalid keyword, a lone surrogate, nesting deeper than 512 levels,
// two keys naming one keyword.
// Nodes carry no positions.
Result<Node> ReadJsonTx(std::string_view json);

}  // namespace datalith::edn
