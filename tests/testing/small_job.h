// The small MovieLens job the cluster and worker tests run: 40 compression
// steps then 20 matching steps with test-sized timeouts, so a failure shows
// in seconds rather than minutes. Callers adjust what their test is about.
#ifndef IAK_TESTS_TESTING_SMALL_JOB_H_
#define IAK_TESTS_TESTING_SMALL_JOB_H_

#include <string>

#include "job/job_spec.h"
#include "proto/job_spec.pb.h"

namespace iak::testing_util {

inline proto::JobSpec SmallMovieLensJob(const std::string& name, const std::string& model_dir,
                                        const std::string& output_dir, int batch_size = 128) {
  proto::JobSpec spec;
  spec.set_name(name);
  spec.set_model_dir(model_dir);
  spec.set_output_dir(output_dir);
  spec.mutable_data()->set_movielens_dir("datasets/ml-latest-small");
  spec.set_batch_size(batch_size);
  proto::PhaseCommand* compression = spec.add_phases();
  compression->set_phase(proto::PHASE_COMPRESSION);
  compression->set_steps(40);
  compression->set_beta(1e-3f);
  compression->set_learning_rate(3e-3f);
  proto::PhaseCommand* matching = spec.add_phases();
  matching->set_phase(proto::PHASE_MATCHING);
  matching->set_steps(20);
  matching->set_beta(1e-4f);
  matching->set_learning_rate(1e-3f);
  spec.mutable_timeouts()->set_startup_timeout_ms(30000);
  spec.mutable_timeouts()->set_barrier_timeout_ms(60000);
  return spec;
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_SMALL_JOB_H_
