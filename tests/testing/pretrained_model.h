// Pre-trains the small model the cluster tests fine-tune: one epoch on the
// spec's data, written as 2 shards into the spec's model_dir. Call it once in
// SetUpTestSuite and ASSERT that the status is ok.
#ifndef IAK_TESTS_TESTING_PRETRAINED_MODEL_H_
#define IAK_TESTS_TESTING_PRETRAINED_MODEL_H_

#include "common/status.h"
#include "proto/job_spec.pb.h"
#include "worker/pretrain_job.h"

namespace iak::testing_util {

inline Status PretrainSmallModel(const proto::JobSpec& spec) {
  worker::PretrainJobOptions options;
  options.data = spec.data();
  options.model_dir = spec.model_dir();
  options.num_shards = 2;
  options.train.epochs = 1;
  StatusOr<worker::PretrainJobResult> result = worker::RunPretrainJob(options);
  return result.ok() ? Status::Ok() : result.status();
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_PRETRAINED_MODEL_H_
