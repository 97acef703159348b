#include "cli/command_flags.h"

#include <algorithm>
#include <map>

namespace iak::cli {
namespace {

using FlagTable = std::map<std::string, std::vector<std::string>, std::less<>>;

// Flags read through LoadJobFromFlags() / the job's output directory.
#define IAK_JOB "job"

const FlagTable& Table() {
  static const FlagTable* table = new FlagTable{
      {"submit",
       {IAK_JOB, "launcher", "hostfile", "advertise_host", "detach", "wait", "timeout_s",
        "resume", "supervise", "progress_every"}},
      {"status", {IAK_JOB}},
      {"cancel", {IAK_JOB}},
      {"report", {IAK_JOB}},
      {"logs", {IAK_JOB, "node", "lines"}},
      {"keygen", {"key_out"}},
      {"demo",
       {"run_dir", "demo_data_dir", "servers", "workers", "compression_steps", "matching_steps",
        "beta_c", "beta_m", "lr", "batch_size", "pretrain_epochs", "job_timeout_s",
        "key_dropout", "frozen_precision", "demo_new_key_rows", "demo_key_biases", "demo_insertion"}},
      {"pretrain",
       {IAK_JOB, "out", "data_dir", "shards", "epochs", "dim", "seed", "overwrite", "key_dropout",
        "skip_bad_lines", "num_tasks", "schema", "input", "cluster"}},
      {"scheduler", {IAK_JOB, "listen", "metrics_port", "metrics_host", "address_file"}},
      {"ps",
       {IAK_JOB, "scheduler", "shard", "replica", "ps_listen", "advertise", "name", "model_dir",
        "memory_budget_mb", "block_cache_mb", "trainable_optimizer", "trainable_lr",
        "trainable_output", "ps_max_reply_mb", "ps_lookup_threads", "ps_max_message_mb",
        "ps_max_queued_mb_per_peer"}},
      {"worker", {IAK_JOB, "scheduler", "progress_every", "rank_hint", "gloo_hostname", "resume"}},
      {"eval", {IAK_JOB, "split", "json_out"}},
      // convert, inspect and synth.
      {"data",
       {"schema", "input", "output_dir", "num_shards", "bad_lines", "max_bad_examples",
        "read_threads", "shard_dir", "show", "out", "seed", "keys", "samples", "domains",
        "shift_scale", "domain_size_skew", "domain_ordered", "shard_version", "block_samples",
        "zstd_level", "convert_chunk_samples", "convert_chunk_mb"}},
      // import, synth, inspect, verify, reshard, finalize.
      {"snapshot",
       {"out", "shards", "dtype", "format", "tensor", "keys", "keys_tensor", "base_model",
        "overwrite", "finalize_dense", "promote_rows", "tables", "table_keys", "rows", "dim",
        "seed"}},
      // Defined in compare_command.cc and compare_job_command.cc (--job,
      // --compare_seeds, --compare_variants, --compare_paired,
      // --compare_bootstrap_resamples: the comparison on a job's own data and
      // spec, with confidence).
      {"compare",
       {IAK_JOB, "compare_seeds", "compare_variants", "compare_paired",
        "compare_bootstrap_resamples", "compare_run_dir", "compare_data_dir", "compare_model_dir",
        "compare_methods",
        "compare_epochs", "compare_batch_size", "compare_lora_rank", "compare_latent_dim",
        "compare_iak_insertion", "compare_rows_lr", "compare_rows_optimizer", "compare_rows_init",
        "compare_rows_min_count", "compare_rows_max", "compare_adapter_lr", "compare_dense_lr",
        "compare_embedding_lr", "compare_beta_c", "compare_beta_m",
        "compare_compression_fraction", "compare_key_dropout", "compare_pretrain_epochs",
        "compare_seed", "compare_dropout_sweep", "compare_sweep_seeds", "compare_iak_grid",
        "compare_movielens", "compare_synth", "compare_all", "compare_synth_samples",
        "compare_synth_keys", "compare_synth_domains", "compare_synth_skew",
        "compare_synth_pretrain_domains", "compare_synth_seeds", "compare_dynamic_batches",
        "compare_min_batch", "compare_batch_reference", "compare_cold_min_train",
        "compare_cold_min_val_positives", "compare_network_workers", "compare_markdown",
        "compare_json"}},
      {"export", {IAK_JOB, "out", "torch", "rows_per_file"}},
      {"predict", {IAK_JOB, "input", "out", "predict_batch"}},
      {"scale", {IAK_JOB, "workers", "scale_timeout_ms"}},
      // Every benchmark's (bench/*.cc).
      {"bench",
       {"read_bench_samples", "read_bench_repeats", "read_bench_threads", "read_bench_shards",
        "read_bench_seed", "source", "step_batches", "step_repeats", "step_threads",
        "step_rows_per_field", "step_pinned_rows_mb", "step_reference", "step_bf16", "step_gpu", "peer", "peer_python",
        "peer_script", "peer_cached_repeats", "transport", "keys", "dtype", "pull_rows",
        "pull_batch", "pull_seconds", "pull_repeats", "pull_inproc", "pull_zipf_s",
        "pull_cache_mb", "pull_lookup_alone", "pull_model_dir", "pull_server_timeout_s",
        "memory_budget_mb", "block_cache_mb", "ps_lookup_threads", "seed", "dim", "shards",
        "pull_keys_per_request", "push_rows", "push_batch", "push_seconds", "push_repeats",
        "push_optimizer", "predict_domains", "predict_batch", "predict_batches", "predict_repeats",
        "scale_samples", "scale_rows", "scale_dtype", "scale_steps", "scale_batch",
        "scale_domains", "scale_stream_cache_mb", "scale_pretrain_samples", "scale_dir"}},
  };
  return *table;
}

#undef IAK_JOB

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

const std::vector<std::string>* FlagsOfCommand(std::string_view command) {
  const auto it = Table().find(command);
  return it == Table().end() ? nullptr : &it->second;
}

std::vector<std::string> CommandsWithFlags() {
  std::vector<std::string> names;
  for (const auto& [name, flags] : Table()) names.push_back(name);
  return names;
}

bool IsLoggingFlag(std::string_view name) {
  static const char* const kGlog[] = {
      "v",          "vmodule",      "logtostderr",       "alsologtostderr", "colorlogtostderr",
      "stderrthreshold", "minloglevel", "log_dir",        "logbuflevel",     "logbufsecs",
      "max_log_size", "stop_logging_if_full_disk", "log_prefix", "timestamp_in_logfile_name"};
  for (const char* flag : kGlog) {
    if (name == flag) return true;
  }
  return false;
}

std::vector<std::string> FlagNamesInArgs(int n, char** args,
                                         bool (*is_bool)(const std::string& name)) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    std::string_view arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;  // a positional argument
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    const size_t eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    if (!is_bool(name) && name.size() > 2 && name.compare(0, 2, "no") == 0 &&
        is_bool(name.substr(2))) {
      name = name.substr(2);  // --noflag
    } else if (eq == std::string_view::npos && !is_bool(name) && i + 1 < n) {
      ++i;  // `--name value`
    }
    names.push_back(std::move(name));
  }
  return names;
}

Status CheckFlagsBelongTo(std::string_view command, int n, char** args,
                          bool (*is_bool)(const std::string& name)) {
  const std::vector<std::string>* own = FlagsOfCommand(command);
  if (own == nullptr) return Status::Ok();
  for (const std::string& name : FlagNamesInArgs(n, args, is_bool)) {
    if (Contains(*own, name) || IsLoggingFlag(name)) continue;
    std::string owners;
    for (const auto& [other, flags] : Table()) {
      if (Contains(flags, name)) owners += (owners.empty() ? "`iak " : ", `iak ") + other + "`";
    }
    return InvalidArgumentError(
        "--" + name + " is not a flag of `iak " + std::string(command) + "`" +
        (owners.empty() ? std::string(" (no command has it)")
                        : " (it belongs to " + owners + ")") +
        "; `iak " + std::string(command) + " --help` lists its flags");
  }
  return Status::Ok();
}

}  // namespace iak::cli
