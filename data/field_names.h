// Fields named in a job spec (iak.key_biases.fields, iak.fields), resolved to
// their indices in a data set's field list, with the error a user can act on.
#ifndef IAK_DATA_FIELD_NAMES_H_
#define IAK_DATA_FIELD_NAMES_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"

namespace iak::data {

// The index of each of `names` in `fields`, in the order named.
// InvalidArgument naming `spec_field` when a name is not a field (listing the
// fields there are) or is named twice.
[[nodiscard]] StatusOr<std::vector<int>> FieldIndicesByName(const std::vector<FieldInfo>& fields,
                                                            const std::vector<std::string>& names,
                                                            const std::string& spec_field);

}  // namespace iak::data

#endif  // IAK_DATA_FIELD_NAMES_H_
