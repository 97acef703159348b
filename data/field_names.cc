#include "data/field_names.h"

#include <algorithm>

namespace iak::data {

StatusOr<std::vector<int>> FieldIndicesByName(const std::vector<FieldInfo>& fields,
                                              const std::vector<std::string>& names,
                                              const std::string& spec_field) {
  std::vector<int> indices;
  for (const std::string& name : names) {
    int found = -1;
    std::string known;
    for (size_t f = 0; f < fields.size(); ++f) {
      if (fields[f].name == name) found = static_cast<int>(f);
      known += (known.empty() ? "" : ", ") + fields[f].name;
    }
    if (found < 0) {
      return InvalidArgumentError(spec_field + ": the data has no field '" + name +
                                  "'; its fields are " + known);
    }
    if (std::find(indices.begin(), indices.end(), found) != indices.end()) {
      return InvalidArgumentError(spec_field + " names '" + name +
                                  "' twice; list each field once");
    }
    indices.push_back(found);
  }
  return indices;
}

}  // namespace iak::data
