// A data schema (proto::Schema, a *.schema.pbtxt file) checked and compiled
// into the plan the line parser follows: which column is a label, which
// becomes which feature field, how numbers are bucketised, how the domain is
// found. Reference for users: docs/data.md.
//
// Feature fields are the categorical, multi-valued and numeric columns in
// file order; field i's keys are FeatureKey(i, value) (common/keys.h), so two
// fields never share a key even when their values coincide.
//
// Thread-safety: a const CompiledSchema may be shared by any number of
// parsing threads.
#ifndef IAK_DATA_SCHEMA_H_
#define IAK_DATA_SCHEMA_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/domain_rules.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

struct CompiledColumn {
  std::string name;
  proto::ColumnRole role = proto::COLUMN_IGNORED;
  int field = -1;                 // feature field index, or -1
  std::string separator = "|";    // COLUMN_MULTI_CATEGORICAL
  proto::NumericTransform transform = proto::NUMERIC_TRANSFORM_UNSPECIFIED;
  std::vector<double> boundaries;  // NUMERIC_BUCKETIZE
  proto::TimestampFormat timestamp_format = proto::TIMESTAMP_UNIX_SECONDS;
};

struct CompiledSchema {
  proto::Schema schema;                 // as given (repeat entries unexpanded)
  std::vector<CompiledColumn> columns;  // expanded, in file order (CSV/TSV)
  std::vector<FieldInfo> fields;        // the Dataset's feature fields
  int click_column = -1;                // -1 for LIBSVM/LIBFFM (label is token 1)
  int conversion_column = -1;           // -1: no conversion label
  int timestamp_column = -1;            // -1: samples are ordered by position
  int domain_column = -1;               // COLUMN_DOMAIN, or -1
  DomainRuleSet domain_rules;           // used when domain_column is -1

  bool has_conversion() const { return conversion_column >= 0; }
  char delimiter() const { return schema.format() == proto::FORMAT_TSV ? '\t' : ','; }
};

// The most columns (CSV/TSV, after `repeat` is expanded) or LIBFFM fields a
// schema may have: far above any real data set (Criteo has 40 columns), far
// below what would exhaust memory before the data is read.
inline constexpr int kMaxSchemaColumns = 65536;

// Checks `schema` and compiles it. InvalidArgumentError naming the column
// (1-based position and name) or rule and what to change, for: a column
// without a role or name, no click column, two click/conversion/timestamp/
// domain columns, a numeric column without a transform, bucket boundaries
// not strictly increasing, an empty separator, an unknown pooling, a domain
// rule naming an unknown column or both a domain column and rules, a
// time rule without a timestamp column, LIBFFM without num_fields, a negative
// `repeat` or more than kMaxSchemaColumns columns or LIBFFM fields.
[[nodiscard]] StatusOr<CompiledSchema> CompileSchema(const proto::Schema& schema);

// Reads a text-format Schema from `path` and compiles it. Errors name the
// path (and line:column for syntax errors).
[[nodiscard]] StatusOr<CompiledSchema> LoadSchema(const std::string& path);

}  // namespace iak::data

#endif  // IAK_DATA_SCHEMA_H_
