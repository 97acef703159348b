// `iak demo`: the whole path on the bundled MovieLens data: pre-train the base
// on the early periods, serve its frozen embeddings from 2 PS processes,
// fine-tune one IAK adapter per later period with 2 MPI workers (compression
// then matching), and print the per-domain comparison with the frozen base.
#include <gflags/gflags.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "cluster/child_process.h"
#include "cluster/local_launcher.h"
#include "cluster/run_report.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "job/job_spec.h"
#include "worker/adapter_model.h"
#include "worker/evaluator.h"
#include "worker/model_factory.h"
#include "worker/pretrain_job.h"

DECLARE_double(key_dropout);  // iak pretrain's flag: the demo pre-trains with it
DEFINE_string(run_dir, "runs/demo", "where the demo writes its model, job spec, logs and results");
DEFINE_string(demo_data_dir, "datasets/ml-latest-small", "MovieLens directory");
DEFINE_int32(servers, 2, "parameter server processes (one shard each)");
DEFINE_int32(workers, 2, "worker processes (MPI ranks)");
DEFINE_int64(compression_steps, 600, "steps of the knowledge-compression phase");
DEFINE_int64(matching_steps, 300, "steps of the knowledge-matching phase");
DEFINE_double(beta_c, 1e-3, "KL weight during compression");
DEFINE_double(beta_m, 1e-4, "KL weight during matching");
DEFINE_double(lr, 2e-3, "adapter learning rate (Adam)");
DEFINE_int32(batch_size, 256, "samples per worker per step");
DEFINE_int32(pretrain_epochs, 3, "pre-training epochs of the base model");
DEFINE_string(frozen_precision, "fp32",
              "the frozen bottom's forward on the workers: fp32 or bf16 (JobSpec.frozen_precision; "
              "bf16 is for adapters on h: with --demo_insertion=h)");
DEFINE_int64(job_timeout_s, 1800, "stop the cluster if the job runs longer than this");
DEFINE_bool(demo_new_key_rows, true,
            "train rows for the keys pre-training never saw (iak.new_key_rows): most users of "
            "the later periods are new");
DEFINE_bool(demo_key_biases, true,
            "train a logit offset per user and per movie of each period (iak.key_biases): how "
            "much each likes, and is liked, more than the frozen model predicts");
DEFINE_string(demo_insertion, "x",
              "where the adapters sit (iak.insertion): x (the pooled input, below which the new "
              "rows feed) or h");

namespace iak::cli {

namespace {

// The demo's own flags the job spec's validation does not see: a bad one was
// found only after pre-training (--job_timeout_s stopped the cluster at once;
// --demo_insertion failed on the workers, reported by the scheduler).
Status CheckDemoFlags() {
  if (FLAGS_job_timeout_s < 1) {
    return InvalidArgumentError("--job_timeout_s must be >= 1 (seconds), got " +
                                std::to_string(FLAGS_job_timeout_s));
  }
  StatusOr<worker::AdapterInsertion> insertion =
      worker::ParseAdapterInsertion(FLAGS_demo_insertion);
  if (!insertion.ok()) return insertion.status().WithContext("--demo_insertion");
  return Status::Ok();
}

}  // namespace

int RunDemo(int, char**) {
  if (Status flags = CheckDemoFlags(); !flags.ok()) return ReportError("demo", flags);
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  const auto start = std::chrono::steady_clock::now();
  if (Status made = CreateDirectories(FLAGS_run_dir); !made.ok()) return ReportError("demo", made);
  const std::string run_dir = std::filesystem::absolute(FLAGS_run_dir).string();

  proto::JobSpec spec;
  spec.set_name("demo");
  spec.set_model_dir(run_dir + "/model");
  spec.set_output_dir(run_dir);
  spec.mutable_data()->set_movielens_dir(std::filesystem::absolute(FLAGS_demo_data_dir).string());
  spec.set_num_servers(FLAGS_servers);
  spec.set_num_workers(FLAGS_workers);
  spec.set_batch_size(FLAGS_batch_size);
  proto::PhaseCommand* compression = spec.add_phases();
  compression->set_phase(proto::PHASE_COMPRESSION);
  compression->set_steps(FLAGS_compression_steps);
  compression->set_beta(static_cast<float>(FLAGS_beta_c));
  compression->set_learning_rate(static_cast<float>(FLAGS_lr));
  proto::PhaseCommand* matching = spec.add_phases();
  matching->set_phase(proto::PHASE_MATCHING);
  matching->set_steps(FLAGS_matching_steps);
  matching->set_beta(static_cast<float>(FLAGS_beta_m));
  matching->set_learning_rate(static_cast<float>(FLAGS_lr) / 2);
  if (FLAGS_frozen_precision != "fp32") spec.set_frozen_precision(FLAGS_frozen_precision);
  spec.mutable_iak()->set_insertion(FLAGS_demo_insertion);
  spec.mutable_iak()->mutable_new_key_rows()->set_enabled(FLAGS_demo_new_key_rows);
  if (FLAGS_demo_key_biases) {
    proto::KeyBiasesSpec* biases = spec.mutable_iak()->mutable_key_biases();
    biases->set_enabled(true);
    biases->add_fields("user");
    biases->add_fields("movie");
  }
  job::ApplyDefaults(&spec);
  Status valid = job::Validate(spec);
  if (valid.ok()) valid = worker::CheckFrozenPrecision(spec);
  if (!valid.ok()) return ReportError("demo", valid);

  std::cerr << "[1/4] pre-training the base model on the early periods -> " << spec.model_dir()
            << "\n";
  worker::PretrainJobOptions pretrain;
  pretrain.data = spec.data();
  pretrain.model_dir = spec.model_dir();
  pretrain.num_shards = spec.num_servers();
  pretrain.overwrite = true;
  pretrain.train.epochs = FLAGS_pretrain_epochs;
  pretrain.train.key_dropout = static_cast<float>(FLAGS_key_dropout);
  StatusOr<worker::PretrainJobResult> pretrained = worker::RunPretrainJob(pretrain);
  if (!pretrained.ok()) return ReportError("demo", pretrained.status());
  std::cerr << "      " << pretrained->samples << " samples, " << pretrained->rows
            << " embedding rows, snapshot " << pretrained->snapshot_id << " ("
            << SecondsSince(start) << " s)\n";

  const std::string job_path = run_dir + "/job.pbtxt";
  Status saved = job::SaveJobSpec(spec, job_path);
  if (!saved.ok()) return ReportError("demo", saved);

  std::cerr << "[2/4] starting the cluster: 1 scheduler, " << spec.num_servers() << " PS, "
            << spec.num_workers() << " workers (job spec " << job_path << ")\n";
  const auto train_start = std::chrono::steady_clock::now();
  cluster::LocalLaunchOptions launch;
  launch.iak_binary = cluster::SelfExecutablePath();
  launch.job_spec_path = job_path;
  launch.run_dir = run_dir + "/logs";
  launch.job_timeout = Duration(FLAGS_job_timeout_s * 1000);
  Status ran = cluster::RunLocalJob(spec, launch, stop);
  if (!ran.ok()) return ReportError("demo", ran);
  std::cerr << "[3/4] fine-tuning done in " << SecondsSince(train_start) << " s\n";

  std::cerr << "[4/4] evaluating each later period's test split\n";
  StatusOr<worker::EvalReport> report = worker::EvaluateJob(spec);
  if (!report.ok()) return ReportError("demo", report.status());
  std::cout << "\nCTR-AUC per domain (MovieLens periods; base pre-trained on "
            << pretrained->samples << " earlier ratings, frozen):\n\n"
            << report->ToTable();
  const std::string json_path = run_dir + "/results.json";
  std::ofstream(json_path) << report->ToJson();
  Status reported = cluster::WriteRunReport(run_dir);
  if (reported.ok()) {
    std::cout << "\nreport: " << run_dir << "/report/report.md (loss.png, validation.png, auc.png)";
  } else {
    std::cerr << "no report plots: " << reported << "\n";
  }
  std::cout << "\nresults: " << json_path << "   logs: " << launch.run_dir
            << "   total " << static_cast<int>(SecondsSince(start)) << " s\n";
  return 0;
}

}  // namespace iak::cli
