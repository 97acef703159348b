// Text data lines (data/line_parser.h): CSV (quotes, multi-valued and numeric
// columns, timestamps, domain rules), TSV, LIBSVM and LIBFFM. The first byte
// picks the schema; every line of the rest parses to a sample or a
// malformed-line verdict, and the dataset stays consistent.
#include <google/protobuf/text_format.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "data/line_parser.h"
#include "data/schema.h"
#include "fuzz/dataset_invariants.h"

namespace {

const char* const kSchemas[] = {
    // CSV with every column role.
    R"(format: FORMAT_CSV
       columns { name: "click" role: COLUMN_CLICK }
       columns { name: "buy" role: COLUMN_CONVERSION }
       columns { name: "ts" role: COLUMN_TIMESTAMP }
       columns { name: "user" role: COLUMN_CATEGORICAL }
       columns { name: "tags" role: COLUMN_MULTI_CATEGORICAL separator: "|" pooling: "mean" }
       columns { name: "I" repeat: 2 role: COLUMN_NUMERIC transform: NUMERIC_LOG }
       columns { name: "price" role: COLUMN_NUMERIC transform: NUMERIC_BUCKETIZE
                 boundaries: [1, 10, 100] }
       columns { name: "n" role: COLUMN_NUMERIC transform: NUMERIC_INTEGER }
       columns { name: "zip" role: COLUMN_CATEGORICAL }
       columns { name: "skip" role: COLUMN_IGNORED }
       domains { rules { domain: "north" column: "zip" prefix: "1" }
                 rules { domain: "night" hour_of_day { min: 20 max: 6 } }
                 rules { domain: "cheap" column: "price" value { min: 0 max: 5 } }
                 default_domain: "other" })",
    // TSV, Avazu-style time and a domain column.
    R"(format: FORMAT_TSV
       columns { name: "click" role: COLUMN_CLICK }
       columns { name: "hour" role: COLUMN_TIMESTAMP timestamp_format: TIMESTAMP_YYMMDDHH }
       columns { name: "site" role: COLUMN_DOMAIN }
       columns { name: "C" repeat: 3 role: COLUMN_CATEGORICAL })",
    R"(format: FORMAT_LIBSVM)",
    R"(format: FORMAT_LIBFFM num_fields: 5 domains { default_domain: "all" })",
};

std::vector<iak::data::CompiledSchema>* Compile() {
  auto* out = new std::vector<iak::data::CompiledSchema>;
  for (const char* text : kSchemas) {
    iak::proto::Schema schema;
    if (!google::protobuf::TextFormat::ParseFromString(text, &schema)) std::abort();
    auto compiled = iak::data::CompileSchema(schema);
    if (!compiled.ok()) std::abort();
    out->push_back(*compiled);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<iak::data::CompiledSchema>* schemas = Compile();
  if (size == 0) return 0;
  const iak::data::CompiledSchema& schema = (*schemas)[data[0] % schemas->size()];
  iak::data::LineParser parser(schema);
  iak::data::Dataset out;
  out.fields = schema.fields;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string problem;
  int64_t ordinal = 0;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    (void)parser.Parse(line, ordinal++, &out, &problem);
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  iak::fuzz::AbortUnlessConsistent(out, parser.domain_names().size());
  return 0;
}
