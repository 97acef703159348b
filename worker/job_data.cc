#include "worker/job_data.h"

#include <vector>

#include "data/schema.h"
#include "data/shard_set.h"

namespace iak::worker {

StatusOr<JobData> LoadJobData(const proto::DataSpec& spec) {
  IAK_RETURN_IF_ERROR(
      data::ValidateSplitFractions(spec.train_fraction(), spec.validation_fraction()));
  JobData job;
  if (!spec.shard_manifest().empty()) {
    IAK_ASSIGN_OR_RETURN(job.dataset, data::ReadShardSet(spec.shard_manifest()));
    job.source = "shards " + spec.shard_manifest();
  } else if (!spec.schema_file().empty()) {
    if (spec.input_files_size() == 0) {
      return InvalidArgumentError("data.schema_file is set but data.input_files is empty; list "
                                  "the text files to read with the schema");
    }
    IAK_ASSIGN_OR_RETURN(const data::CompiledSchema schema, data::LoadSchema(spec.schema_file()));
    data::TextReadOptions options;
    if (spec.read_threads() > 0) options.num_threads = spec.read_threads();
    options.bad_lines =
        spec.skip_bad_lines() ? data::BadLinePolicy::kSkip : data::BadLinePolicy::kFail;
    const std::vector<std::string> files(spec.input_files().begin(), spec.input_files().end());
    IAK_ASSIGN_OR_RETURN(job.dataset,
                         data::ReadTextFiles(schema, files, options, &job.text_report));
    job.source = "schema " + spec.schema_file();
  } else {
    data::MovieLensOptions options;
    options.dir = spec.movielens_dir();
    options.period_bounds.assign(spec.period_bounds().begin(), spec.period_bounds().end());
    options.skip_bad_lines = spec.skip_bad_lines();
    options.genre_domains.assign(spec.genre_domains().begin(), spec.genre_domains().end());
    IAK_ASSIGN_OR_RETURN(job.dataset, data::ReadMovieLens(options, &job.report));
    job.source = "MovieLens " + spec.movielens_dir();
  }
  if (spec.pretrain_random_share() < 0 || spec.pretrain_random_share() >= 1) {
    return InvalidArgumentError("data.pretrain_random_share is " +
                                std::to_string(spec.pretrain_random_share()) +
                                "; use a share in [0, 1) (0 = pre-train on the first periods)");
  }
  int random_share_domain = -1;
  if (spec.pretrain_random_share() > 0) {
    random_share_domain =
        data::SplitOffRandomShare(&job.dataset, spec.pretrain_random_share(), "pretrain");
  }
  job.splits = data::SplitByTime(job.dataset, spec.train_fraction(), spec.validation_fraction());
  const int num_domains = static_cast<int>(job.dataset.domain_names.size());
  for (int d = 0; d < num_domains; ++d) {
    const bool pretrain = random_share_domain >= 0 ? d == random_share_domain
                                                   : d < spec.pretrain_periods();
    (pretrain ? job.pretrain_domains : job.finetune_domains).push_back(d);
  }
  return job;
}

}  // namespace iak::worker
