// `iak pretrain`: trains the base recommender on the early periods and writes
// the model directory the parameter servers serve. The data: the job spec's
// (--job), text files read with a schema (--schema, --input), or MovieLens
// (--data_dir). With conversion labels in the data the base is the two-task
// ESMM model unless --num_tasks=1 (worker/pretrain_job.h). It trains in this
// process, or with --job --cluster as a cluster job on this host (scheduler,
// trainable PS processes, workers under mpirun), through the same Trainer.
// A spec with `pretrain { enabled: true ... }` decides the training options;
// otherwise the flags below do (docs/pretraining.md).
#include <gflags/gflags.h>

#include <atomic>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "cluster/child_process.h"
#include "cluster/local_launcher.h"
#include "common/file_util.h"
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
DEFINE_bool(cluster, false,
            "with --job: pre-train as a cluster job on this host (the spec's num_servers trainable "
            "PS processes, num_workers workers under mpirun) instead of in this process");
DEFINE_string(num_tasks, "auto",
              "task towers of the base: auto (two, ESMM's CTR and CTCVR, when the data has "
              "conversion labels, else one), 1 (CTR only) or 2 (ESMM; needs conversion labels)");
// data_command.cc's flags (one gflags name per binary): without --job, text
// files read with a schema instead of MovieLens.
DECLARE_string(schema);
DECLARE_string(input);

namespace iak::cli {

namespace {

// --num_tasks: 0 = auto, 1 or 2.
StatusOr<int> ParseNumTasks(const std::string& flag) {
  if (flag == "auto" || flag.empty()) return 0;
  if (flag == "1") return 1;
  if (flag == "2") return 2;
  return InvalidArgumentError("--num_tasks must be auto, 1 or 2, not '" + flag + "'");
}

// Runs the Trainer's spec of a cluster pre-training as a local job: its spec
// and logs under <output_dir>/pretrain.
Status RunOnLocalCluster(const proto::JobSpec& trainer_spec, const std::atomic<bool>& stop) {
  proto::JobSpec spec = trainer_spec;
  job::ApplyDefaults(&spec);
  IAK_RETURN_IF_ERROR(job::Validate(spec));
  const std::string run_dir = spec.output_dir() + "/pretrain";
  const std::string job_path = run_dir + "/job.pbtxt";
  IAK_RETURN_IF_ERROR(CreateDirectories(run_dir, "set output_dir to a writable directory"));
  IAK_RETURN_IF_ERROR(job::SaveJobSpec(spec, job_path));
  cluster::LocalLaunchOptions launch;
  launch.iak_binary = cluster::SelfExecutablePath();
  launch.job_spec_path = job_path;
  launch.run_dir = run_dir + "/logs";
  std::cerr << "pre-training on a local cluster: 1 scheduler, " << spec.num_servers()
            << " trainable PS, " << spec.num_workers() << " workers (job spec " << job_path
            << ", logs " << launch.run_dir << ")\n";
  return cluster::RunLocalJob(spec, launch, stop);
}

}  // namespace

// Options from --job when given, else from the flags above.
void FillPretrainOptions(const proto::JobSpec& spec, worker::PretrainJobOptions* options) {
  options->data = spec.data();
  options->model_dir = FLAGS_out.empty() ? spec.model_dir() : FLAGS_out;
  options->num_shards = spec.num_servers();
}

int RunPretrain(int, char**) {
  worker::PretrainJobOptions options;
  proto::JobSpec job_spec;  // --job's
  if (FLAGS_cluster && FLAGS_job.empty()) {
    return ReportError("pretrain", InvalidArgumentError(
                                       "--cluster needs --job: the spec names the data, "
                                       "num_servers, num_workers and output_dir of the job"));
  }
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
    job_spec = *spec;
  } else {
    proto::JobSpec spec;
    spec.set_model_dir(FLAGS_out);
    spec.mutable_data()->set_movielens_dir(FLAGS_data_dir);
    if (!FLAGS_schema.empty()) {
      if (FLAGS_input.empty()) {
        return ReportError("pretrain", InvalidArgumentError(
                                           "--schema needs --input: the text files to read"));
      }
      spec.mutable_data()->set_schema_file(FLAGS_schema);
      std::stringstream files(FLAGS_input);
      for (std::string file; std::getline(files, file, ',');) {
        if (!file.empty()) spec.mutable_data()->add_input_files(file);
      }
    }
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
  StatusOr<int> num_tasks = ParseNumTasks(FLAGS_num_tasks);
  if (!num_tasks.ok()) return ReportError("pretrain", num_tasks.status());
  options.num_tasks = *num_tasks;
  options.overwrite = FLAGS_overwrite;
  options.train.epochs = FLAGS_epochs;
  options.train.key_dropout = static_cast<float>(FLAGS_key_dropout);
  options.train.embedding_dim = FLAGS_dim;
  options.train.seed = FLAGS_seed;
  if (job_spec.pretrain().enabled()) {  // the spec's block decides
    options.train = worker::PretrainOptionsOf(job_spec);
    options.num_tasks = job_spec.pretrain().num_tasks();
  }
  StatusOr<worker::PretrainJobResult> result = InternalError("pretrain: nothing ran");
  if (FLAGS_cluster) {
    // The cluster pre-training drives its group itself, on this host.
    const std::string& launcher = job_spec.launcher().kind();
    if (!launcher.empty() && launcher != "local") {
      return ReportError("pretrain", FailedPreconditionError(
                                         "--cluster pre-trains on this host's local launcher, "
                                         "but the job spec asks for launcher \"" + launcher +
                                         "\": drop launcher.kind for pre-training, or pre-train "
                                         "in one process (without --cluster)"));
    }
    proto::JobSpec spec = job_spec;
    spec.set_model_dir(options.model_dir);
    spec.set_seed(options.train.seed);
    *spec.mutable_pretrain() = worker::PretrainSpecOf(options.train, options.num_tasks);
    const std::atomic<bool>& stop = InstallStopSignalHandlers();
    result = worker::RunClusterPretrain(
        spec, [&stop](const proto::JobSpec& trainer) { return RunOnLocalCluster(trainer, stop); },
        FLAGS_overwrite);
  } else {
    result = worker::RunPretrainJob(options);
  }
  if (!result.ok()) return ReportError("pretrain", result.status());
  std::cout << "pre-trained a "
            << (result->num_tasks == 2 ? "two-task ESMM base (CTR, CTCVR)" : "CTR base")
            << (result->has_conversion && result->num_tasks == 1
                    ? " (the data's conversion labels unused: --num_tasks=1)"
                    : "")
            << " on " << result->samples << " samples; wrote " << result->rows
            << " embedding rows in " << options.num_shards << " shard(s) to "
            << options.model_dir << " (snapshot " << result->snapshot_id << ")\n";
  return 0;
}

}  // namespace iak::cli
