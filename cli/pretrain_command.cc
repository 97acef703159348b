// `iak pretrain`: trains the base recommender on the early periods and writes
// the model directory the parameter servers serve.
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "job/job_spec.h"
#include "worker/pretrain_job.h"

DEFINE_string(data_dir, "datasets/ml-latest-small", "MovieLens directory (ratings.csv, movies.csv)");
DEFINE_string(out, "", "model directory to write (default: the job spec's model_dir)");
DEFINE_int32(shards, 2, "number of embedding snapshot shards (one PS process each)");
DEFINE_int32(epochs, 3, "pre-training epochs");
DEFINE_int32(dim, 16, "embedding dimension");
DEFINE_uint64(seed, 1, "random seed (initialisation and shuffling)");
DEFINE_bool(overwrite, false, "replace an existing model directory");
DEFINE_double(key_dropout, 0.3,
              "pre-training: probability of replacing a sample's user/movie row by the zero "
              "'unknown' row, so the base learns to score keys it will not have at fine-tuning "
              "time (0.3 was best on the validation split, docs/results.md)");
DEFINE_bool(skip_bad_lines, false, "skip and count malformed input lines instead of failing");

namespace iak::cli {

// Options from --job when given, else from the flags above.
void FillPretrainOptions(const proto::JobSpec& spec, worker::PretrainJobOptions* options) {
  options->data = spec.data();
  options->model_dir = FLAGS_out.empty() ? spec.model_dir() : FLAGS_out;
  options->num_shards = spec.num_servers();
}

int RunPretrain(int, char**) {
  worker::PretrainJobOptions options;
  if (!FLAGS_job.empty()) {
    // With --job the spec gives these; a flag given too would be ignored.
    for (const char* from_spec : {"data_dir", "shards", "skip_bad_lines"}) {
      if (!gflags::GetCommandLineFlagInfoOrDie(from_spec).is_default) {
        return ReportError(
            "pretrain",
            InvalidArgumentError(std::string("--") + from_spec +
                                 " cannot be combined with --job: the job spec's data and "
                                 "num_servers decide it; edit the spec or drop --job"));
      }
    }
    StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
    if (!spec.ok()) return ReportError("pretrain", spec.status());
    FillPretrainOptions(*spec, &options);
  } else {
    proto::JobSpec spec;
    spec.set_model_dir(FLAGS_out);
    spec.mutable_data()->set_movielens_dir(FLAGS_data_dir);
    spec.mutable_data()->set_skip_bad_lines(FLAGS_skip_bad_lines);
    spec.set_num_servers(FLAGS_shards);
    job::ApplyDefaults(&spec);
    Status valid = job::Validate(spec);
    if (!valid.ok()) return ReportError("pretrain", valid);
    FillPretrainOptions(spec, &options);
  }
  if (options.model_dir.empty()) {
    return ReportError("pretrain", InvalidArgumentError("--out (or --job) is required"));
  }
  options.overwrite = FLAGS_overwrite;
  options.train.epochs = FLAGS_epochs;
  options.train.key_dropout = static_cast<float>(FLAGS_key_dropout);
  options.train.embedding_dim = FLAGS_dim;
  options.train.seed = FLAGS_seed;
  StatusOr<worker::PretrainJobResult> result = worker::RunPretrainJob(options);
  if (!result.ok()) return ReportError("pretrain", result.status());
  std::cout << "pre-trained on " << result->samples << " samples; wrote " << result->rows
            << " embedding rows in " << options.num_shards << " shard(s) to "
            << options.model_dir << " (snapshot " << result->snapshot_id << ")\n";
  return 0;
}

}  // namespace iak::cli
