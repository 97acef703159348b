// The job spec: one text-format proto::JobSpec file (job.pbtxt) that every
// node of a job reads, so the scheduler, servers and workers agree on it.
#ifndef IAK_JOB_JOB_SPEC_H_
#define IAK_JOB_JOB_SPEC_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "proto/job_spec.pb.h"

namespace iak::job {

// Limits Validate enforces (docs/job_spec.md): beyond them a spec is a typo,
// and refusing it here beats a worker aborting after the cluster started.
inline constexpr int kMaxAdapterWidth = 8192;   // latent_dim, each hidden width, lora.rank
inline constexpr int kMaxAdapterLayers = 16;    // encoder/decoder hidden layers
inline constexpr int kMaxBatchSize = 1 << 20;
inline constexpr int kMaxNodes = 4096;          // num_servers, num_workers
inline constexpr double kMaxLearningRate = 10;  // phases[i].learning_rate, trainable
inline constexpr double kMaxBeta = 1000;        // phases[i].beta
inline constexpr int64_t kMaxPinnedRowsMb = int64_t{1} << 20;  // 1 TiB
inline constexpr int64_t kDefaultPinnedRowsMb = 256;

// The bytes a worker may keep of pulled frozen rows of its data
// (JobSpec.pinned_rows_mb); 0 where they must be pulled per batch (off, or
// method "full", whose rows change on the servers at every step).
uint64_t PinnedRowsBudgetBytes(const proto::JobSpec& spec);

// Fills every unset field with its default (documented in docs/job_spec.md).
void ApplyDefaults(proto::JobSpec* spec);

// Checks values a job cannot run with; the message names the field, the bad
// value and what is allowed. Every number is checked for range, and floating
// ones for NaN and infinity; explicit zeros of num_workers, num_servers and
// batch_size are refused rather than replaced by defaults.
[[nodiscard]] Status Validate(const proto::JobSpec& spec);

// Reads, applies defaults, validates. Errors name the file and, for syntax
// errors, the line and column.
[[nodiscard]] StatusOr<proto::JobSpec> LoadJobSpec(const std::string& path);

// Writes `spec` as text format (atomically: temp file + rename).
[[nodiscard]] Status SaveJobSpec(const proto::JobSpec& spec, const std::string& path);

}  // namespace iak::job

#endif  // IAK_JOB_JOB_SPEC_H_
