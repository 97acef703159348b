#include "worker/job_data.h"

namespace iak::worker {

StatusOr<JobData> LoadJobData(const proto::DataSpec& spec) {
  data::MovieLensOptions options;
  options.dir = spec.movielens_dir();
  options.period_bounds.assign(spec.period_bounds().begin(), spec.period_bounds().end());
  options.skip_bad_lines = spec.skip_bad_lines();
  IAK_RETURN_IF_ERROR(
      data::ValidateSplitFractions(spec.train_fraction(), spec.validation_fraction()));
  JobData job;
  IAK_ASSIGN_OR_RETURN(job.dataset, data::ReadMovieLens(options, &job.report));
  job.splits = data::SplitByTime(job.dataset, spec.train_fraction(), spec.validation_fraction());
  const int num_domains = static_cast<int>(job.dataset.domain_names.size());
  for (int d = 0; d < num_domains; ++d) {
    (d < spec.pretrain_periods() ? job.pretrain_domains : job.finetune_domains).push_back(d);
  }
  return job;
}

}  // namespace iak::worker
