// Samples given column by column (what a data frame holds: one text value per
// row of each named column), parsed through a schema exactly as the lines of
// a CSV/TSV file are (LineParser): the same keys, numeric buckets, labels and
// domains as `iak predict` on a file holding those rows. The Python package
// (docs/python.md) scores data frames through here.
//
// A column the schema has and `columns` lacks reads as: "0" for a label, an
// empty cell for an ignored column, the epoch for a timestamp; a missing
// feature or domain column is an error. `domain`, when given, names each
// row's domain instead of the schema's domain column or rules.
//
// Thread-safety: pure function.
#ifndef IAK_DATA_COLUMN_BATCH_H_
#define IAK_DATA_COLUMN_BATCH_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/schema.h"

namespace iak::data {

struct ColumnText {
  std::string name;                 // the schema's (expanded) column name
  std::vector<std::string> values;  // one per row
};

// InvalidArgument naming the column (and row) for: a LIBSVM/LIBFFM schema
// (no named columns), a column the schema lacks, columns of different
// lengths, a missing feature/domain column, a TSV value with a tab or line
// break, a row the parser refuses ("row 3: column 5 ('I2'): expected a
// number, found 'x'") or a row no domain rule holds for (pass `domain`).
[[nodiscard]] StatusOr<Dataset> ParseColumns(const CompiledSchema& schema,
                                             const std::vector<ColumnText>& columns,
                                             const std::vector<std::string>* domain);

}  // namespace iak::data

#endif  // IAK_DATA_COLUMN_BATCH_H_
