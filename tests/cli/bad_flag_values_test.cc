// Out-of-range flag values get an error naming the flag and its range, never
// a crash or a hang. Before: `iak bench read --read_bench_shards=0` aborted on
// a CHECK after the text pass, `iak bench pull --keys=zipf --pull_zipf_s=nan`
// never finished drawing its keys, `--pull_cache_mb=-1` overflowed into a
// bad_alloc abort, `iak ps --ps_lookup_threads=100000` (and bench pull's)
// aborted starting its threads, `iak bench scale --scale_dir=FILE` aborted on
// an uncaught filesystem_error, `iak bench step --step_gpu` without a GPU
// aborted on a CHECK, and `iak snapshot synth --dim=2147483647` streamed
// rows of 8 GB each before the manifest refused the dim. Runs the `iak`
// binary: each case is refused before any work, in milliseconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/testing/run_iak.h"

namespace iak::cli {
namespace {

using testing_util::IakRun;
using testing_util::RunIak;

// An orderly refusal: exit 1 or 2 (a signal gives -1), no CHECK failure, and
// the message names `flag`.
void ExpectRefused(const std::string& args, const std::string& flag) {
  const IakRun run = RunIak(args);
  EXPECT_TRUE(run.exit_code == 1 || run.exit_code == 2)
      << args << ": exit " << run.exit_code << "\n" << run.output;
  EXPECT_EQ(run.output.find("Check failed"), std::string::npos) << args << "\n" << run.output;
  EXPECT_EQ(run.output.find("terminate called"), std::string::npos) << args << "\n" << run.output;
  EXPECT_NE(run.output.find(flag), std::string::npos) << args << "\n" << run.output;
}

TEST(BadFlagValuesTest, ReadBenchRefusesCountsBelowOne) {
  ExpectRefused("bench read --read_bench_shards=0", "--read_bench_shards");
  ExpectRefused("bench read --read_bench_shards=-1", "--read_bench_shards");
  ExpectRefused("bench read --read_bench_samples=0", "--read_bench_samples");
  ExpectRefused("bench read --read_bench_repeats=0", "--read_bench_repeats");
  ExpectRefused("bench read --read_bench_threads=0", "--read_bench_threads");
}

TEST(BadFlagValuesTest, PullBenchRefusesABadZipfExponentOrCacheBudget) {
  ExpectRefused("bench pull --pull_inproc --keys=zipf --pull_zipf_s=nan", "--pull_zipf_s");
  ExpectRefused("bench pull --pull_inproc --keys=zipf --pull_zipf_s=-1", "--pull_zipf_s");
  ExpectRefused("bench pull --pull_inproc --keys=zipf --pull_cache_mb=-1", "--pull_cache_mb");
  ExpectRefused("bench pull --pull_inproc --keys=zipf --pull_cache_mb=9223372036854775807",
                "--pull_cache_mb");
  ExpectRefused("bench pull --pull_inproc --pull_seconds=nan", "--pull_seconds");
  ExpectRefused("bench pull --pull_inproc --pull_seconds=inf", "--pull_seconds");
}

TEST(BadFlagValuesTest, PushBenchRefusesSecondsRepeatsAndRowsOutOfRange) {
  // Before: zero rates printed as if measured, a run that never ended, or
  // minutes of writing a huge table.
  ExpectRefused("bench push --push_seconds=nan", "--push_seconds");
  ExpectRefused("bench push --push_seconds=-1", "--push_seconds");
  ExpectRefused("bench push --push_seconds=inf", "--push_seconds");
  ExpectRefused("bench push --push_repeats=0", "--push_repeats");
  ExpectRefused("bench push --push_rows=100000000000", "--push_rows");
  ExpectRefused("bench push --push_rows=10 --push_batch=11", "--push_batch");
}

TEST(BadFlagValuesTest, CompareRefusesPairsOfMethodsItDoesNotTrainBeforeTraining) {
  const std::string dir = ::testing::TempDir() + "/bad_flag_values_compare_" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/model");
  std::ofstream(dir + "/job.pbtxt")
      << "name: \"j\" model_dir: \"" << dir << "/model\" output_dir: \"" << dir
      << "/out\" data { movielens_dir: \"datasets/ml-latest-small\" period_bounds: [1996, "
         "2004, 2019] pretrain_periods: 1 }\n";
  const std::string compare = "compare --job=" + dir + "/job.pbtxt --compare_methods=iak ";
  ExpectRefused(compare + "--compare_paired=iak-bf16:iak", "--compare_paired");
  ExpectRefused(compare + "--compare_paired=iak", "--compare_paired");
  EXPECT_FALSE(std::filesystem::exists(dir + "/out")) << "refused before writing anything";
  std::filesystem::remove_all(dir);
}

TEST(BadFlagValuesTest, BenchmarksRefuseSizesPastTheirBounds) {
  // Before: bad_alloc or thread-start aborts, or runs that never got going.
  ExpectRefused("bench read --read_bench_shards=2147483647", "--read_bench_shards");
  ExpectRefused("bench predict --predict_batch=2147483647", "--predict_batch");
  ExpectRefused("bench predict --predict_domains=2147483647", "--predict_domains");
  ExpectRefused("bench step --step_batches=2147483647", "--step_batches");
  ExpectRefused("bench step --step_threads=2147483647", "--step_threads");
  ExpectRefused("bench pull --pull_inproc --dim=2147483647", "--dim");
  ExpectRefused("bench pull --pull_inproc --shards=2147483647", "--shards");
}

TEST(BadFlagValuesTest, SnapshotRefusesADimOrShardCountNoJobCanServe) {
  const std::string out = ::testing::TempDir() + "/bad_flag_values_synth_" +
                          std::to_string(::getpid());
  ExpectRefused("snapshot synth --rows=10 --dim=2147483647 --out=" + out, "--dim");
  ExpectRefused("snapshot synth --rows=10 --dim=65537 --out=" + out, "--dim");
  ExpectRefused("snapshot synth --rows=10 --dim=0 --out=" + out, "--dim");
  ExpectRefused("snapshot synth --rows=10 --shards=100000 --out=" + out, "--shards");
  ExpectRefused("snapshot reshard /nonexistent-model --shards=2147483647 --out=" + out, "--shards");
  EXPECT_FALSE(std::filesystem::exists(out)) << "refused before writing anything";
}

TEST(BadFlagValuesTest, ParameterServerRefusesThreadAndMegabyteCountsOutOfRange) {
  // Checked before the model is read: no model directory is needed.
  const std::string ps = "ps --model_dir=/nonexistent-model ";
  ExpectRefused(ps + "--ps_lookup_threads=100000", "--ps_lookup_threads");
  ExpectRefused(ps + "--ps_lookup_threads=-1", "--ps_lookup_threads");
  ExpectRefused(ps + "--ps_max_reply_mb=9223372036854775807", "--ps_max_reply_mb");
  ExpectRefused(ps + "--ps_max_message_mb=-1", "--ps_max_message_mb");
  ExpectRefused(ps + "--ps_max_queued_mb_per_peer=9223372036854775807",
                "--ps_max_queued_mb_per_peer");
  ExpectRefused(ps + "--memory_budget_mb=-1", "--memory_budget_mb");
  ExpectRefused(ps + "--block_cache_mb=-1", "--block_cache_mb");
  ExpectRefused("bench pull --pull_inproc --ps_lookup_threads=100000", "--ps_lookup_threads");
}

TEST(BadFlagValuesTest, DemoRefusesItsOwnBadFlagsBeforePretraining) {
  // Before: found only after pre-training, by the cluster.
  const std::string run_dir = ::testing::TempDir() + "/bad_flag_values_demo_" +
                              std::to_string(::getpid());
  ExpectRefused("demo --run_dir=" + run_dir + " --job_timeout_s=-1", "--job_timeout_s");
  ExpectRefused("demo --run_dir=" + run_dir + " --demo_insertion=bogus", "--demo_insertion");
  EXPECT_FALSE(std::filesystem::exists(run_dir)) << "refused before writing anything";
}

TEST(BadFlagValuesTest, KeygenRefusesAnEmptyKeyPathWritingNothing) {
  // Before: the key pair was written to ".tmp" in the working directory and
  // then the rename failed. Run from an empty folder to see what it leaves.
  const std::filesystem::path dir = ::testing::TempDir() + "/bad_flag_values_keygen_" +
                                    std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  ExpectRefused("keygen --key_out=", "--key_out");
  std::filesystem::current_path(before);
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "wrote nothing";
  std::filesystem::remove_all(dir);
}

TEST(BadFlagValuesTest, SchedulerRefusesAMetricsPortOutOfRange) {
  // Before: 70000 was served on 70000 - 65536, -5 read as -1.
  ExpectRefused("scheduler --job=/nonexistent.pbtxt --metrics_port=70000", "--metrics_port");
  ExpectRefused("scheduler --job=/nonexistent.pbtxt --metrics_port=-5", "--metrics_port");
}

TEST(BadFlagValuesTest, ScaleBenchReportsAScaleDirItCannotCreate) {
  const std::string file = ::testing::TempDir() + "/bad_flag_values_file_" +
                           std::to_string(::getpid());
  std::ofstream(file) << "not a folder\n";
  ExpectRefused("bench scale --scale_dir=" + file, "--scale_dir");
  std::filesystem::remove(file);
}

TEST(BadFlagValuesTest, ConvertRefusesAChunkBoundOutOfRange) {
  const std::string out = ::testing::TempDir() + "/bad_flag_values_convert_" +
                          std::to_string(::getpid());
  ExpectRefused("data convert --output_dir=" + out + " --convert_chunk_mb=0", "--convert_chunk_mb");
  ExpectRefused("data convert --output_dir=" + out + " --convert_chunk_mb=9223372036854775807",
                "--convert_chunk_mb");
  EXPECT_FALSE(std::filesystem::exists(out)) << "created nothing";
}

TEST(BadFlagValuesTest, ScaleBenchRefusesTooFewRows) {
  // Before: --scale_rows=0 ran the whole bench on a snapshot of 2 keys.
  ExpectRefused("bench scale --scale_rows=0", "--scale_rows");
  ExpectRefused("bench scale --scale_rows=-1", "--scale_rows");
}

TEST(BadFlagValuesTest, StepBenchRefusesAPinnedRowsBudgetOutOfRange) {
  ExpectRefused("bench step --step_pinned_rows_mb=-2", "--step_pinned_rows_mb");
  ExpectRefused("bench step --step_pinned_rows_mb=9223372036854775807", "--step_pinned_rows_mb");
}

TEST(BadFlagValuesTest, StepBenchReportsAMissingGpu) {
  if (std::filesystem::exists("/dev/nvidia0")) {
    GTEST_SKIP() << "a GPU is present: the run would train";
  }
  ExpectRefused("bench step --step_gpu --step_batches=1 --step_repeats=1 --step_rows_per_field=100",
                "--step_gpu");
}

}  // namespace
}  // namespace iak::cli
