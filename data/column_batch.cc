#include "data/column_batch.h"

#include <map>

#include "data/line_parser.h"

namespace iak::data {
namespace {

constexpr char kDomainOverride[] = "__domain__";

// What a row holds in a column `columns` lacks; false when it may not be left out.
bool DefaultCell(const CompiledColumn& c, std::string* cell) {
  switch (c.role) {
    case proto::COLUMN_CLICK:
    case proto::COLUMN_CONVERSION:
      *cell = "0";
      return true;
    case proto::COLUMN_IGNORED:
      cell->clear();
      return true;
    case proto::COLUMN_TIMESTAMP:
      *cell = c.timestamp_format == proto::TIMESTAMP_YYMMDDHH ? "70010100" : "0";
      return true;
    default:
      return false;
  }
}

// `value` as one CSV cell (RFC 4180 quotes where needed), or a TSV cell.
Status AppendCell(const std::string& value, char delimiter, const std::string& column, size_t row,
                  std::string* line) {
  const bool special = value.find_first_of(std::string(1, delimiter) + "\"\r\n") != std::string::npos;
  if (!special) {
    *line += value;
    return Status::Ok();
  }
  if (delimiter == '\t') {
    return InvalidArgumentError("row " + std::to_string(row) + ", column '" + column +
                                "': a TSV value cannot hold a tab or a line break");
  }
  *line += '"';
  for (char ch : value) {
    if (ch == '"') *line += '"';
    *line += ch;
  }
  *line += '"';
  return Status::Ok();
}

// The schema with its domain column and rules replaced by one domain column.
StatusOr<CompiledSchema> WithDomainColumn(const CompiledSchema& schema) {
  proto::Schema s = schema.schema;
  for (proto::ColumnSpec& c : *s.mutable_columns()) {
    if (c.role() == proto::COLUMN_DOMAIN) c.set_role(proto::COLUMN_IGNORED);
  }
  s.clear_domains();
  proto::ColumnSpec* d = s.add_columns();
  d->set_name(kDomainOverride);
  d->set_role(proto::COLUMN_DOMAIN);
  return CompileSchema(s);
}

}  // namespace

StatusOr<Dataset> ParseColumns(const CompiledSchema& given, const std::vector<ColumnText>& columns,
                               const std::vector<std::string>* domain) {
  if (given.schema.format() != proto::FORMAT_CSV && given.schema.format() != proto::FORMAT_TSV) {
    return InvalidArgumentError("schema " + given.schema.name() +
                                " reads LIBSVM/LIBFFM lines, which have no named columns; "
                                "give the samples as keys instead");
  }
  CompiledSchema overridden;
  if (domain != nullptr) {
    IAK_ASSIGN_OR_RETURN(overridden, WithDomainColumn(given));
  }
  const CompiledSchema& schema = domain != nullptr ? overridden : given;
  std::map<std::string, const ColumnText*> by_name;
  size_t rows = domain != nullptr ? domain->size() : 0;
  bool rows_known = domain != nullptr;
  for (const ColumnText& c : columns) {
    by_name[c.name] = &c;
    if (rows_known && c.values.size() != rows) {
      return InvalidArgumentError("column '" + c.name + "' has " +
                                  std::to_string(c.values.size()) + " values but the batch has " +
                                  std::to_string(rows) + " rows");
    }
    rows = c.values.size();
    rows_known = true;
  }
  // Which given column (or default cell) fills each schema column.
  std::vector<const std::vector<std::string>*> source(schema.columns.size(), nullptr);
  std::vector<std::string> defaults(schema.columns.size());
  size_t used = 0;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const CompiledColumn& c = schema.columns[i];
    if (c.name == kDomainOverride && domain != nullptr) {
      source[i] = domain;
      continue;
    }
    const auto it = by_name.find(c.name);
    if (it != by_name.end()) {
      source[i] = &it->second->values;
      ++used;
    } else if (!DefaultCell(c, &defaults[i])) {
      return InvalidArgumentError("the batch has no column '" + c.name + "' (column " +
                                  std::to_string(i + 1) + " of schema " + schema.schema.name() +
                                  ")" + (c.role == proto::COLUMN_DOMAIN ? "; or pass domain=" : ""));
    }
  }
  if (used != by_name.size()) {
    for (const auto& [name, column] : by_name) {
      bool known = false;
      for (const CompiledColumn& c : schema.columns) known = known || c.name == name;
      if (!known) {
        return InvalidArgumentError("schema " + schema.schema.name() + " has no column '" + name +
                                    "'");
      }
    }
  }
  LineParser parser(schema);
  Dataset out;
  out.fields = schema.fields;
  std::string line;
  std::string problem;
  const char delimiter = schema.delimiter();
  for (size_t r = 0; r < rows; ++r) {
    line.clear();
    for (size_t i = 0; i < schema.columns.size(); ++i) {
      if (i > 0) line += delimiter;
      const std::string& cell = source[i] != nullptr ? (*source[i])[r] : defaults[i];
      IAK_RETURN_IF_ERROR(AppendCell(cell, delimiter, schema.columns[i].name, r, &line));
    }
    switch (parser.Parse(line, static_cast<int64_t>(r), &out, &problem)) {
      case LineParser::Outcome::kSample:
        break;
      case LineParser::Outcome::kNoDomain:
        return InvalidArgumentError("row " + std::to_string(r) +
                                    ": no domain rule of schema " + schema.schema.name() +
                                    " holds and it has no default_domain; pass domain=");
      case LineParser::Outcome::kBad:
        return InvalidArgumentError("row " + std::to_string(r) + ": " + problem);
    }
  }
  out.domain_names = schema.domain_column >= 0 ? parser.domain_names()
                                               : schema.domain_rules.domain_names();
  return out;
}

}  // namespace iak::data
