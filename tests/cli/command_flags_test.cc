// `iak` commands accept only their own flags and list exactly those in
// --help. Before: `iak eval --compare_epochs=3 --workers=5` exited 0, help
// pages listed other commands' flags and missed some of their own (predict
// --input/--out, export --out, snapshot --out/--shards/--dtype), and
// `iak pretrain --job=... --shards=3 --data_dir=/nonexistent` ignored both.
#include "cli/command_flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/run_iak.h"

namespace iak::cli {
namespace {

using testing_util::IakRun;
using testing_util::RunIak;

bool NoBools(const std::string&) { return false; }
bool DetachIsBool(const std::string& name) { return name == "detach"; }

TEST(CommandFlagsTest, ForeignFlagsAreRefusedNamingTheirCommand) {
  std::vector<std::string> storage = {"--compare_epochs=3", "--workers=5"};
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  Status s = CheckFlagsBelongTo("eval", static_cast<int>(args.size()), args.data(), NoBools);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--compare_epochs is not a flag of `iak eval`"), std::string::npos)
      << s;
  EXPECT_NE(s.message().find("`iak compare`"), std::string::npos) << s;
  EXPECT_TRUE(CheckFlagsBelongTo("compare", 1, args.data(), NoBools).ok());
  std::vector<std::string> own = {"--job", "spec.pbtxt", "-split=test", "--v=1", "pos"};
  args.clear();
  for (std::string& a : own) args.push_back(a.data());
  EXPECT_TRUE(CheckFlagsBelongTo("eval", static_cast<int>(args.size()), args.data(), NoBools).ok());
  std::vector<std::string> bools = {"--nodetach", "job.pbtxt", "--", "--whatever"};
  args.clear();
  for (std::string& a : bools) args.push_back(a.data());
  EXPECT_EQ(FlagNamesInArgs(static_cast<int>(args.size()), args.data(), DetachIsBool),
            std::vector<std::string>{"detach"});
}

// Every flag defined under cli/ and bench/ belongs to some command, so none is
// left out of every help page and refused everywhere.
TEST(CommandFlagsTest, EveryDefinedFlagBelongsToACommand) {
  std::set<std::string> listed;
  for (const std::string& command : CommandsWithFlags()) {
    for (const std::string& flag : *FlagsOfCommand(command)) listed.insert(flag);
  }
  const std::regex define(R"(DEFINE_[a-z0-9]+\(\s*([a-z_0-9]+)\s*,)");
  int defined = 0;
  for (const char* dir : {"/cli", "/bench"}) {
    for (const auto& entry : std::filesystem::directory_iterator(IAK_SOURCE_DIR + std::string(dir))) {
      if (entry.path().extension() != ".cc") continue;
      // The GPU benchmark is a binary of its own (iak_gpu_bench), not a command.
      if (entry.path().filename() == "gpu_bench_main.cc") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string source = text.str();
      for (std::sregex_iterator it(source.begin(), source.end(), define), end; it != end; ++it) {
        ++defined;
        EXPECT_EQ(listed.count((*it)[1]), 1u)
            << "--" << (*it)[1] << " (" << entry.path() << ") is in no command's list in "
            << "cli/command_flags.cc";
      }
    }
  }
  EXPECT_GT(defined, 100);
}

TEST(CommandFlagsTest, TheBinaryRefusesForeignFlags) {
  const IakRun eval = RunIak("eval --compare_epochs=3 --workers=5");
  EXPECT_EQ(eval.exit_code, 2) << eval.output;
  EXPECT_NE(eval.output.find("--compare_epochs is not a flag of `iak eval`"), std::string::npos)
      << eval.output;
  const IakRun export_run = RunIak("export --job=/nonexistent.pbtxt --shards=3");
  EXPECT_EQ(export_run.exit_code, 2) << export_run.output;
  EXPECT_NE(export_run.output.find("--shards is not a flag of `iak export`"), std::string::npos)
      << export_run.output;
}

TEST(CommandFlagsTest, EachHelpListsExactlyItsOwnFlags) {
  const std::regex flag_line(R"(^  --([a-z_0-9]+) \()");
  for (const std::string& command : CommandsWithFlags()) {
    const IakRun help = RunIak(command + " --help");
    ASSERT_EQ(help.exit_code, 0) << command << ": " << help.output;
    std::vector<std::string> shown;
    std::istringstream lines(help.output);
    std::string line;
    std::smatch match;
    while (std::getline(lines, line)) {
      if (std::regex_search(line, match, flag_line)) shown.push_back(match[1]);
    }
    EXPECT_EQ(shown, *FlagsOfCommand(command)) << command << ":\n" << help.output;
  }
  // The ones the issue found missing.
  const IakRun predict = RunIak("predict --help");
  EXPECT_NE(predict.output.find("--input ("), std::string::npos);
  EXPECT_NE(predict.output.find("--out ("), std::string::npos);
  EXPECT_EQ(predict.output.find("--compare_epochs"), std::string::npos);
  const IakRun snapshot = RunIak("snapshot --help");
  for (const char* flag : {"--out (", "--shards (", "--dtype ("}) {
    EXPECT_NE(snapshot.output.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(RunIak("export --help").output.find("--out ("), std::string::npos);
}

TEST(CommandFlagsTest, PretrainRefusesFlagsTheJobSpecOverrides) {
  const std::string spec = ::testing::TempDir() + "/pretrain_job.pbtxt";
  std::ofstream(spec) << "model_dir: \"/tmp/unused-model\"\n";
  const IakRun run = RunIak("pretrain --job=" + spec + " --shards=3 --data_dir=/nonexistent");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("cannot be combined with --job"), std::string::npos) << run.output;
}

TEST(CommandFlagsTest, PretrainClusterNeedsAJobSpec) {
  const IakRun run = RunIak("pretrain --cluster --out=/tmp/unused-model");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("--cluster needs --job"), std::string::npos) << run.output;
}

TEST(CommandFlagsTest, PretrainClusterRefusesALauncherItDoesNotDrive) {
  const std::string dir = ::testing::TempDir() + "/iak_pretrain_launcher_" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream spec(dir + "/job.pbtxt");
    spec << "name: \"p\" model_dir: \"" << dir << "/model\" output_dir: \"" << dir
         << "/out\" data { movielens_dir: \"" << dir << "/ml\" } launcher { kind: \"slurm\" }\n";
  }
  const IakRun run = RunIak("pretrain --cluster --job=" + dir + "/job.pbtxt");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("launcher \"slurm\""), std::string::npos) << run.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/model")) << "nothing written";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iak::cli
