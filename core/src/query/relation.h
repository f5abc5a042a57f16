// Relations: the intermediate results of a query.
//
// A relation is a set of rows over named variables, stored row-major in one vector.
// Relations with no columns are booleans (0 or 1 rows). Joins hash the shared
// columns; every operation checks the row limit so a runaway product fails with an
// error instead of exhausting memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datalith/status.h"
#include "datalith/value.h"
#include "query/ast.h"

namespace datalith::query {

struct Rel {
  std::vector<VarId> cols;
  std::vector<Value> data;
  size_t rows = 0;

  size_t width() const { return cols.size(); }
  const Value* Row(size_t i) const { return data.data() + i * cols.size(); }
  int Col(VarId v) const {
    for (size_t i = 0; i < cols.size(); ++i)
      if (cols[i] == v) return static_cast<int>(i);
    return -1;
  }
  // Appends a row of width() values.
  void Add(const Value* row) {
    data.insert(data.end(), row, row + cols.size());
    ++rows;
  }
  // Appends a row of width() values, moving them out of `row`.
  void AddMoved(Value* row) {
    for (size_t i = 0; i < cols.size(); ++i) data.push_back(std::move(row[i]));
    ++rows;
  }
  static Rel Unit() {  // one empty row: the identity of join
    Rel r;
    r.rows = 1;
    return r;
  }
};

// Hash of the values of `cols` (column indexes) in `row`.
size_t HashRow(const Value* row, const std::vector<int>& cols);

// The error for a relation that passes `max_rows` (QueryOptions::max_rows).
Status TooLarge(uint64_t max_rows);

// a ⋈ b on their shared columns (a product if none). Columns: a's, then b's new ones.
Result<Rel> Join(const Rel& a, const Rel& b, uint64_t max_rows);
// Rows of `a` with no match in `b` on the columns they share.
Rel AntiJoin(const Rel& a, const Rel& b);
// The columns `vars` of `a` (each must exist), duplicates removed if `distinct`. The
// second form consumes `a` (its values are moved, not copied).
Rel Project(const Rel& a, const std::vector<VarId>& vars, bool distinct);
Rel Project(Rel&& a, const std::vector<VarId>& vars, bool distinct);
// Removes duplicate rows in place.
void Dedup(Rel* r);

}  // namespace datalith::query
