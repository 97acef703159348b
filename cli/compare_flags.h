// The `iak compare` flags shared by its two forms (compare_command.cc, the
// built-in MovieLens/synthetic comparison; compare_job_command.cc, --job).
#ifndef IAK_CLI_COMPARE_FLAGS_H_
#define IAK_CLI_COMPARE_FLAGS_H_

#include <gflags/gflags.h>

#include <vector>

#include "compare/method_comparison.h"

DECLARE_string(compare_markdown);
DECLARE_string(compare_json);

namespace iak::cli {

// `iak compare --job=J` (compare_job_command.cc).
int RunCompareForJob(const std::vector<compare::Method>& methods);

}  // namespace iak::cli

#endif  // IAK_CLI_COMPARE_FLAGS_H_
