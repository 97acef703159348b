// `iak`: the one command-line entry point of IAK-PS.
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command_flags.h"
#include "cli/commands.h"

namespace {

struct Subcommand {
  const char* name;
  const char* file;  // the source file whose flags belong to it
  const char* summary;
  int (*run)(int, char**);
};

const Subcommand kSubcommands[] = {
    {"submit", "submit_command.cc",
     "run a job from its spec: `iak submit job.pbtxt --launcher=local|mpirun|slurm|kubernetes`",
     iak::cli::RunSubmit},
    {"status", "submit_command.cc", "state and progress of a submitted job (its output_dir)",
     iak::cli::RunStatus},
    {"cancel", "submit_command.cc", "stop a submitted job", iak::cli::RunCancel},
    {"logs", "submit_command.cc", "the last lines of a submitted job's logs (--node, --lines)",
     iak::cli::RunLogs},
    {"keygen", "keygen_command.cc",
     "make a job's CURVE key pair (every link authenticated and encrypted)",
     iak::cli::RunKeygen},
    {"report", "submit_command.cc",
     "plot a finished job's loss and per-domain AUC (gnuplot) into <output_dir>/report",
     iak::cli::RunReport},
    {"demo", "demo_command.cc",
     "pre-train on the bundled MovieLens data, fine-tune IAK adapters on a local cluster "
     "(1 scheduler, 2 PS, 2 workers), print the per-domain table",
     iak::cli::RunDemo},
    {"pretrain", "pretrain_command.cc",
     "train the base model on the early periods and write a model directory (sharded "
     "RocksDB embedding snapshot + dense weights + manifest)",
     iak::cli::RunPretrain},
    {"scheduler", "scheduler_command.cc",
     "run a job's scheduler: membership, heartbeats, barriers, phase switches",
     iak::cli::RunScheduler},
    {"ps", "ps_command.cc", "run a parameter server for one shard of a model's embeddings",
     iak::cli::RunServer},
    {"worker", "worker_command.cc",
     "run a fine-tuning worker (under mpirun: one per rank; elastic jobs: Gloo groups per "
     "membership epoch) for the job's method", iak::cli::RunWorker},
    {"eval", "eval_command.cc",
     "score each domain's test split with the frozen base and with the job's fine-tuned model "
     "(adapters, dense weights or the trained snapshot, by method)",
     iak::cli::RunEval},
    {"data", "data_command.cc",
     "`iak data convert` text files + schema -> binary shards; `iak data inspect` checks them",
     iak::cli::RunData},
    {"snapshot", "snapshot_command.cc",
     "`iak snapshot import` .npy/safetensors/CSV rows -> model directory; synth a seeded table; "
     "inspect, verify, reshard; finalize a trainable job's trained snapshot",
     iak::cli::RunSnapshot},
    {"compare", "compare_command.cc",
     "train every fine-tuning method (frozen, full, dense, lora, plain, iak) on the same "
     "MovieLens periods (and, with --compare_all, synthetic domains); write docs/results.md + "
     "JSON",
     iak::cli::RunCompare},
    {"export", "export_command.cc",
     "write a job's dense weights and every domain's adapter as safetensors (docs/export.md)",
     iak::cli::RunExport},
    {"predict", "predict_command.cc",
     "score mixed-domain samples (--input=test|validation|train|FILE) with every domain's "
     "adapter loaded, each sample through its own; --out=scores.csv",
     iak::cli::RunPredict},
    {"scale", "scale_command.cc",
     "change the worker count of a running elastic job: `iak scale <job> --workers=N`",
     iak::cli::RunScale},
    {"bench", "bench/", "run a benchmark (`iak bench` lists them); prints figures and a JSON line",
     iak::cli::RunBench},
};

void PrintUsage() {
  std::cout << "iak: fine-tune pre-trained recommenders with IAK adapters on a parameter-server "
               "cluster.\n\nUsage: iak <command> [--flag=value ...]\n\nCommands:\n";
  for (const Subcommand& c : kSubcommands) {
    std::cout << "  " << c.name << std::string(12 - std::strlen(c.name), ' ') << c.summary
              << "\n";
  }
  std::cout << "\n`iak <command> --help` lists a command's flags. Docs: docs/README.md\n";
}

bool IsBoolFlag(const std::string& name) {
  gflags::CommandLineFlagInfo info;
  return gflags::GetCommandLineFlagInfo(name.c_str(), &info) && info.type == "bool";
}

// Exactly the command's own flags (cli/command_flags.cc), then glog's.
void PrintCommandHelp(const Subcommand& command) {
  std::cout << "iak " << command.name << ": " << command.summary << "\n\nFlags:\n";
  const std::vector<std::string>* own = iak::cli::FlagsOfCommand(command.name);
  if (own != nullptr) {
    for (const std::string& name : *own) {
      gflags::CommandLineFlagInfo flag;
      // Every listed flag is defined (tests/cli/command_flags_test.cc).
      if (!gflags::GetCommandLineFlagInfo(name.c_str(), &flag)) continue;
      std::cout << "  --" << flag.name << " (" << flag.description << ")\n"
                << "      type: " << flag.type << "  default: \"" << flag.default_value << "\"\n";
    }
  }
  std::cout << "  --v=N, --logtostderr, ... (glog's logging flags)\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    if (argc >= 3 && std::strcmp(argv[1], "help") == 0) {
      for (const Subcommand& c : kSubcommands) {
        if (std::strcmp(c.name, argv[2]) == 0) {
          PrintCommandHelp(c);
          return 0;
        }
      }
    }
    PrintUsage();
    return argc < 2 ? 1 : 0;
  }
  const Subcommand* command = nullptr;
  for (const Subcommand& c : kSubcommands) {
    if (std::strcmp(c.name, argv[1]) == 0) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "iak: unknown command '" << argv[1] << "'\n\n";
    PrintUsage();
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0 ||
        std::strcmp(argv[i], "-help") == 0) {
      PrintCommandHelp(*command);
      return 0;
    }
  }
  // A flag of another command is an error, not silently ignored.
  const iak::Status own_flags =
      iak::cli::CheckFlagsBelongTo(command->name, argc - 2, argv + 2, IsBoolFlag);
  if (!own_flags.ok()) {
    std::cerr << "iak " << command->name << ": error: " << own_flags.message() << "\n";
    return 2;
  }
  // Logs go to stderr (the launcher collects each node's into a file).
  FLAGS_logtostderr = true;
  // Parse the flags after the subcommand; argv[0] becomes the subcommand.
  int sub_argc = argc - 1;
  char** sub_argv = argv + 1;
  gflags::SetUsageMessage(std::string("iak ") + command->name + " [flags]");
  gflags::ParseCommandLineFlags(&sub_argc, &sub_argv, /*remove_flags=*/true);
  google::InitGoogleLogging(argv[0]);
  return command->run(sub_argc, sub_argv);
}
