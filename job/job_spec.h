// The job spec: one text-format proto::JobSpec file (job.pbtxt) that every
// node of a job reads, so the scheduler, servers and workers agree on it.
#ifndef IAK_JOB_JOB_SPEC_H_
#define IAK_JOB_JOB_SPEC_H_

#include <string>

#include "common/status.h"
#include "proto/iak.pb.h"

namespace iak::job {

// Fills every unset field with its default (documented in docs/job_spec.md).
void ApplyDefaults(proto::JobSpec* spec);

// Checks values a job cannot run with; the message names the field, the bad
// value and what is allowed.
[[nodiscard]] Status Validate(const proto::JobSpec& spec);

// Reads, applies defaults, validates. Errors name the file and, for syntax
// errors, the line and column.
[[nodiscard]] StatusOr<proto::JobSpec> LoadJobSpec(const std::string& path);

// Writes `spec` as text format (atomically: temp file + rename).
[[nodiscard]] Status SaveJobSpec(const proto::JobSpec& spec, const std::string& path);

}  // namespace iak::job

#endif  // IAK_JOB_JOB_SPEC_H_
