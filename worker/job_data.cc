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
    IAK_ASSIGN_OR_RETURN(job.dataset, data::ReadMovieLens(options, &job.report));
    job.source = "MovieLens " + spec.movielens_dir();
  }
  job.splits = data::SplitByTime(job.dataset, spec.train_fraction(), spec.validation_fraction());
  const int num_domains = static_cast<int>(job.dataset.domain_names.size());
  for (int d = 0; d < num_domains; ++d) {
    (d < spec.pretrain_periods() ? job.pretrain_domains : job.finetune_domains).push_back(d);
  }
  return job;
}

}  // namespace iak::worker
