#include "data/schema.h"

#include <fstream>
#include <sstream>

#include "proto/text_format.h"

namespace iak::data {
namespace {

std::string ColumnWhere(size_t index, const std::string& name) {
  return "column " + std::to_string(index + 1) + " ('" + name + "')";
}

Status SetUnique(int* slot, int column, const char* role, const std::string& name) {
  if (*slot >= 0) {
    return InvalidArgumentError(ColumnWhere(static_cast<size_t>(column), name) + ": a second " +
                                role + " column; a schema has at most one");
  }
  *slot = column;
  return Status::Ok();
}

// Checks each ColumnSpec's own numbers before anything is expanded, so a
// `repeat: 2000000000` is refused before 2e9 columns are allocated.
Status CheckColumnSpecs(const proto::Schema& schema) {
  uint64_t total = 0;
  for (int i = 0; i < schema.columns_size(); ++i) {
    const proto::ColumnSpec& spec = schema.columns(i);
    const std::string where = "columns entry " + std::to_string(i + 1) + " ('" + spec.name() + "')";
    if (spec.repeat() < 0) {
      return InvalidArgumentError(where + ": `repeat` is " + std::to_string(spec.repeat()) +
                                  "; use 0 or 1 for one column, N > 1 for N columns");
    }
    if (spec.first_suffix() < 0) {
      return InvalidArgumentError(where + ": `first_suffix` is " +
                                  std::to_string(spec.first_suffix()) + "; use >= 0 (0 = 1)");
    }
    if (spec.has_separator() && spec.separator().empty()) {
      return InvalidArgumentError(where + ": `separator` is \"\"; give the text between "
                                  "values (default \"|\") or leave the field out");
    }
    total += spec.repeat() > 1 ? static_cast<uint64_t>(spec.repeat()) : 1;
    if (total > static_cast<uint64_t>(kMaxSchemaColumns)) {
      return InvalidArgumentError(where + ": the schema would have more than " +
                                  std::to_string(kMaxSchemaColumns) +
                                  " columns (`repeat` is " + std::to_string(spec.repeat()) +
                                  "); check `repeat`");
    }
  }
  return Status::Ok();
}

Status CompileColumns(CompiledSchema* out) {
  const proto::Schema& schema = out->schema;
  IAK_RETURN_IF_ERROR(CheckColumnSpecs(schema));
  for (const proto::ColumnSpec& spec : schema.columns()) {
    const int repeat = spec.repeat() > 1 ? spec.repeat() : 1;
    const int first = spec.first_suffix() != 0 ? spec.first_suffix() : 1;
    for (int r = 0; r < repeat; ++r) {
      CompiledColumn c;
      c.name = spec.repeat() > 1 ? spec.name() + std::to_string(first + r) : spec.name();
      c.role = spec.role();
      c.transform = spec.transform();
      c.boundaries.assign(spec.boundaries().begin(), spec.boundaries().end());
      c.timestamp_format = spec.timestamp_format();
      if (!spec.separator().empty()) c.separator = spec.separator();
      out->columns.push_back(std::move(c));
    }
  }
  for (size_t i = 0; i < out->columns.size(); ++i) {
    CompiledColumn& c = out->columns[i];
    const int col = static_cast<int>(i);
    const std::string where = ColumnWhere(i, c.name);
    if (c.name.empty()) return InvalidArgumentError(where + ": set `name`");
    switch (c.role) {
      case proto::COLUMN_CLICK:
        IAK_RETURN_IF_ERROR(SetUnique(&out->click_column, col, "COLUMN_CLICK", c.name));
        break;
      case proto::COLUMN_CONVERSION:
        IAK_RETURN_IF_ERROR(SetUnique(&out->conversion_column, col, "COLUMN_CONVERSION", c.name));
        break;
      case proto::COLUMN_TIMESTAMP:
        IAK_RETURN_IF_ERROR(SetUnique(&out->timestamp_column, col, "COLUMN_TIMESTAMP", c.name));
        break;
      case proto::COLUMN_DOMAIN:
        IAK_RETURN_IF_ERROR(SetUnique(&out->domain_column, col, "COLUMN_DOMAIN", c.name));
        break;
      case proto::COLUMN_IGNORED:
        break;
      case proto::COLUMN_CATEGORICAL:
      case proto::COLUMN_MULTI_CATEGORICAL:
      case proto::COLUMN_NUMERIC: {
        FieldInfo field;
        field.name = c.name;
        field.multi_valued = c.role == proto::COLUMN_MULTI_CATEGORICAL;
        if (c.role == proto::COLUMN_NUMERIC) {
          if (c.transform == proto::NUMERIC_TRANSFORM_UNSPECIFIED) {
            return InvalidArgumentError(where + ": a numeric column needs `transform` "
                                                "(NUMERIC_LOG, NUMERIC_BUCKETIZE or "
                                                "NUMERIC_INTEGER)");
          }
          if (c.transform == proto::NUMERIC_BUCKETIZE) {
            if (c.boundaries.empty()) {
              return InvalidArgumentError(where + ": NUMERIC_BUCKETIZE needs `boundaries`");
            }
            for (size_t b = 1; b < c.boundaries.size(); ++b) {
              if (!(c.boundaries[b] > c.boundaries[b - 1])) {
                return InvalidArgumentError(where + ": `boundaries` must be strictly increasing "
                                                    "(entry " + std::to_string(b + 1) + ")");
              }
            }
          }
        }
        c.field = static_cast<int>(out->fields.size());
        out->fields.push_back(std::move(field));
        break;
      }
      default:
        return InvalidArgumentError(where + ": set `role` (COLUMN_CLICK, COLUMN_CONVERSION, "
                                            "COLUMN_CATEGORICAL, COLUMN_MULTI_CATEGORICAL, "
                                            "COLUMN_NUMERIC, COLUMN_TIMESTAMP, COLUMN_DOMAIN, "
                                            "COLUMN_IGNORED)");
    }
  }
  // Pooling is per ColumnSpec; walk the specs again to set it on the fields.
  size_t col = 0;
  for (const proto::ColumnSpec& spec : schema.columns()) {
    const int repeat = spec.repeat() > 1 ? spec.repeat() : 1;
    for (int r = 0; r < repeat; ++r, ++col) {
      const CompiledColumn& c = out->columns[col];
      if (c.role != proto::COLUMN_MULTI_CATEGORICAL) continue;
      FieldInfo& field = out->fields[static_cast<size_t>(c.field)];
      if (spec.pooling().empty() || spec.pooling() == "sum") {
        field.pooling = Pooling::kSum;
      } else if (spec.pooling() == "mean") {
        field.pooling = Pooling::kMean;
      } else {
        return InvalidArgumentError(ColumnWhere(col, c.name) + ": pooling '" + spec.pooling() +
                                    "' is neither \"sum\" nor \"mean\"");
      }
    }
  }
  if (out->click_column < 0) {
    return InvalidArgumentError("the schema has no COLUMN_CLICK column; every sample needs a "
                                "click label");
  }
  if (out->fields.empty()) {
    return InvalidArgumentError("the schema has no feature column (COLUMN_CATEGORICAL, "
                                "COLUMN_MULTI_CATEGORICAL or COLUMN_NUMERIC)");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<CompiledSchema> CompileSchema(const proto::Schema& schema) {
  CompiledSchema out;
  out.schema = schema;
  const proto::FileFormat format = schema.format();
  if (format == proto::FORMAT_LIBSVM || format == proto::FORMAT_LIBFFM) {
    if (schema.columns_size() != 0) {
      return InvalidArgumentError("a LIBSVM/LIBFFM schema has no `columns` (the label is the "
                                  "first token, the features follow)");
    }
    if (schema.domains().rules_size() != 0) {
      return InvalidArgumentError("LIBSVM/LIBFFM files have no named columns for domain rules; "
                                  "only `default_domain` may be set");
    }
    if (format == proto::FORMAT_LIBFFM) {
      if (schema.num_fields() <= 0 || schema.num_fields() > kMaxSchemaColumns) {
        return InvalidArgumentError("a LIBFFM schema needs num_fields in 1.." +
                                    std::to_string(kMaxSchemaColumns) + " (fields are numbered "
                                    "0..num_fields-1), got " + std::to_string(schema.num_fields()));
      }
      for (int f = 0; f < schema.num_fields(); ++f) {
        out.fields.push_back({"f" + std::to_string(f), true, Pooling::kSum});
      }
    } else {
      out.fields.push_back({"features", true, Pooling::kSum});
    }
    IAK_ASSIGN_OR_RETURN(out.domain_rules,
                         DomainRuleSet::Compile(schema.domains(), {}, /*has_timestamp=*/false));
    return out;
  }
  IAK_RETURN_IF_ERROR(CompileColumns(&out));
  if (out.domain_column >= 0 && schema.domains().rules_size() != 0) {
    return InvalidArgumentError("the schema has both a COLUMN_DOMAIN column and domain rules; "
                                "keep one");
  }
  std::vector<std::string> names;
  for (const CompiledColumn& c : out.columns) names.push_back(c.name);
  IAK_ASSIGN_OR_RETURN(out.domain_rules, DomainRuleSet::Compile(schema.domains(), names,
                                                                out.timestamp_column >= 0));
  return out;
}

StatusOr<CompiledSchema> LoadSchema(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError(path + ": cannot open the schema file");
  std::stringstream text;
  text << in.rdbuf();
  proto::Schema schema;
  proto::FirstTextFormatError error;
  if (!proto::ParseTextFormat(text.str(), &schema, &error)) {
    return InvalidArgumentError(path + ":" + error.Located() +
                                " (docs/data.md lists the schema fields)");
  }
  StatusOr<CompiledSchema> compiled = CompileSchema(schema);
  if (!compiled.ok()) return compiled.status().WithContext(path);
  return compiled;
}

}  // namespace iak::data
