#include "worker/job_data.h"

#include <vector>

#include "data/schema.h"
#include "data/shard_set.h"

namespace iak::worker {
namespace {

// The early periods (or the random share's domain, when >= 0) pre-train;
// the other domains are fine-tuned.
void ListDomains(const proto::DataSpec& spec, int num_domains, int random_share_domain,
                 JobData* job) {
  for (int d = 0; d < num_domains; ++d) {
    const bool pretrain = random_share_domain >= 0 ? d == random_share_domain
                                                   : d < spec.pretrain_periods();
    (pretrain ? job->pretrain_domains : job->finetune_domains).push_back(d);
  }
}

StatusOr<JobData> LoadStreamedJobData(const proto::DataSpec& spec) {
  data::ShardReaderOptions options;
  if (spec.stream_cache_mb() > 0) {
    options.cache_bytes = static_cast<size_t>(spec.stream_cache_mb()) << 20;
  }
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<data::ShardSampleReader> reader,
                       data::ShardSampleReader::Open(spec.shard_manifest(), options));
  const proto::ShardSetManifest& manifest = reader->manifest();
  if (!manifest.domain_ordered() ||
      manifest.domain_first_sample_size() != manifest.domain_counts_size()) {
    return FailedPreconditionError(
        spec.shard_manifest() + ": the shard set is not domain-ordered (written by an older "
        "`iak data convert`), so its split is not a set of ranges; rewrite it with this build's "
        "`iak data convert`, or drop data.stream to load it whole");
  }
  if (manifest.num_samples() >= (uint64_t{1} << 32)) {
    return FailedPreconditionError(spec.shard_manifest() + " holds " +
                                   std::to_string(manifest.num_samples()) +
                                   " samples; a streamed job reads at most 2^32 - 1 per set: "
                                   "split the data into several jobs' sets");
  }
  JobData job;
  const std::vector<uint64_t> first(manifest.domain_first_sample().begin(),
                                    manifest.domain_first_sample().end());
  const std::vector<uint64_t> count(manifest.domain_counts().begin(),
                                    manifest.domain_counts().end());
  job.ranges = data::SplitDomainRanges(first, count, spec.train_fraction(),
                                       spec.validation_fraction());
  job.dataset = reader->empty();
  job.splits.resize(job.ranges.size());
  ListDomains(spec, static_cast<int>(job.ranges.size()), -1, &job);
  for (int d : job.finetune_domains) {
    const uint32_t begin = static_cast<uint32_t>(job.dataset.size());
    IAK_RETURN_IF_ERROR(reader->GatherRange(job.ranges[static_cast<size_t>(d)].validation,
                                            &job.dataset));
    for (uint32_t id = begin; id < job.dataset.size(); ++id) {
      job.splits[static_cast<size_t>(d)].validation.push_back(id);
    }
  }
  job.stream = std::move(reader);
  job.source = "streamed shards " + spec.shard_manifest();
  return job;
}

}  // namespace

StatusOr<JobData> LoadJobData(const proto::DataSpec& spec, bool stream) {
  IAK_RETURN_IF_ERROR(
      data::ValidateSplitFractions(spec.train_fraction(), spec.validation_fraction()));
  if (stream && spec.stream()) {
    if (spec.shard_manifest().empty()) {
      return InvalidArgumentError("data.stream is set but data.shard_manifest is empty; convert "
                                  "the data with `iak data convert` and name its manifest");
    }
    if (spec.pretrain_random_share() > 0) {
      return InvalidArgumentError("data.stream reads each domain's ranges as converted and "
                                  "cannot split off data.pretrain_random_share; drop one of the "
                                  "two");
    }
    return LoadStreamedJobData(spec);
  }
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
  ListDomains(spec, static_cast<int>(job.dataset.domain_names.size()), random_share_domain, &job);
  return job;
}

}  // namespace iak::worker
