// `iak ps`: serves one shard of a model's frozen embeddings, or trains it
// (trainable mode, docs/trainable_ps.md: from the job spec's `trainable`
// block or the --trainable_* flags, which override it).
#include <gflags/gflags.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "net/zmq_transport.h"
#include "ps/ps_server.h"
#include "ps/trainable_options.h"
#include "scheduler/scheduler_server_membership.h"

DEFINE_int32(shard, 0, "which shard of the snapshot this server serves");
DEFINE_string(ps_listen, "tcp://127.0.0.1:0", "address to serve pulls on; port 0 = any free port");
DEFINE_int32(replica, 0, "which replica of the shard this server is (0..replicas_per_shard-1)");
DEFINE_string(advertise, "",
              "address workers connect to, registered with the scheduler (default: --ps_listen "
              "with its real port); for servers behind NAT or in pods");
DEFINE_string(name, "", "node name for logs and errors (default ps-<shard>)");
DEFINE_int64(memory_budget_mb, 0,
             "serve a shard larger than this from RocksDB reads instead of memory (0 = no limit)");
DEFINE_int64(block_cache_mb, 64, "RocksDB block cache for a shard served from disk");
DEFINE_string(model_dir, "", "model directory to serve (default: the job spec's model_dir)");
DEFINE_string(trainable_optimizer, "",
              "trainable mode: apply pushed gradients with \"adagrad\" or \"adam\" per row "
              "(default: the job spec's trainable block; neither = frozen, pushes refused)");
DEFINE_double(trainable_lr, 0, "trainable mode: learning rate (0 = the job spec's, else 0.02)");
DEFINE_string(trainable_output, "",
              "trainable mode: where this server writes its shard of the trained snapshot when "
              "it stops (default: the job spec's trainable.output_model_dir, else "
              "<output_dir>/trained-model)");

DEFINE_int64(ps_max_reply_mb, 64,
             "the largest pull reply a server builds; a pull of more keys than fit is refused "
             "with a clear error before anything is allocated (0 = no limit)");
DEFINE_int32(ps_lookup_threads, 0,
             "threads that look up one large pull's rows together, the server's own among "
             "them (0 = one per core, at most 4; 1 = the server's thread alone)");
DEFINE_int64(ps_max_message_mb, 256,
             "the largest request part a server accepts; a peer sending a larger one is "
             "disconnected (0 = no limit)");
DEFINE_int64(ps_max_queued_mb_per_peer, 128,
             "bytes of replies queued for one peer that is not reading them; past it further "
             "replies to that peer are dropped");

namespace iak::cli {
namespace {

constexpr int64_t kMaxMegabytes = int64_t{1} << 24;  // 16 TiB: MB << 20 stays in 64 bits

// The server's numeric flags, checked before anything is loaded: a thread
// count past what the system gives aborted the server at start-up, and a
// megabyte count past kMaxMegabytes overflows its conversion to bytes.
Status CheckServerFlags() {
  if (FLAGS_ps_lookup_threads < 0 || FLAGS_ps_lookup_threads > ps::kMaxLookupThreads) {
    return InvalidArgumentError("--ps_lookup_threads must be in [0, " +
                                std::to_string(ps::kMaxLookupThreads) +
                                "] (0 = one per core, at most 4), got " +
                                std::to_string(FLAGS_ps_lookup_threads));
  }
  const std::pair<const char*, int64_t> megabytes[] = {
      {"memory_budget_mb", FLAGS_memory_budget_mb},
      {"block_cache_mb", FLAGS_block_cache_mb},
      {"ps_max_reply_mb", FLAGS_ps_max_reply_mb},
      {"ps_max_message_mb", FLAGS_ps_max_message_mb},
      {"ps_max_queued_mb_per_peer", FLAGS_ps_max_queued_mb_per_peer}};
  for (const auto& [name, value] : megabytes) {
    if (value < 0 || value > kMaxMegabytes) {
      return InvalidArgumentError("--" + std::string(name) + " must be in [0, " +
                                  std::to_string(kMaxMegabytes) + "] MB, got " +
                                  std::to_string(value));
    }
  }
  return Status::Ok();
}

}  // namespace

int RunServer(int, char**) {
  if (Status flags = CheckServerFlags(); !flags.ok()) return ReportError("ps", flags);
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  ps::PsServerOptions options;
  options.model_dir = FLAGS_model_dir;
  net::ZmqTransportOptions transport_options;
  std::optional<proto::JobSpec> job;
  if (options.model_dir.empty() || !FLAGS_job.empty()) {
    StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
    if (!spec.ok()) return ReportError("ps", spec.status());
    if (options.model_dir.empty()) options.model_dir = spec->model_dir();
    StatusOr<net::ZmqTransportOptions> from_spec = TransportOptionsFor(*spec);
    if (!from_spec.ok()) return ReportError("ps", from_spec.status());
    transport_options = *from_spec;
    job = *spec;
  }
  ps::TrainableOverrides overrides;
  overrides.optimizer = FLAGS_trainable_optimizer;
  overrides.learning_rate = FLAGS_trainable_lr;
  overrides.output_model_dir = FLAGS_trainable_output;
  StatusOr<ps::TrainableOptions> trainable =
      ps::ResolveTrainableOptions(job ? &*job : nullptr, overrides);
  if (!trainable.ok()) return ReportError("ps", trainable.status());
  options.trainable = *trainable;
  options.shard = FLAGS_shard;
  options.replica = FLAGS_replica;
  options.memory_budget_bytes = static_cast<uint64_t>(FLAGS_memory_budget_mb) << 20;
  options.block_cache_bytes = static_cast<uint64_t>(FLAGS_block_cache_mb) << 20;
  options.advertise_address = FLAGS_advertise;
  options.listen_address = FLAGS_ps_listen;
  options.name = FLAGS_name.empty() ? "ps-" + std::to_string(FLAGS_shard) : FLAGS_name;
  options.max_reply_bytes = static_cast<uint64_t>(std::max<int64_t>(0, FLAGS_ps_max_reply_mb)) << 20;
  options.lookup_threads = std::max(0, FLAGS_ps_lookup_threads);
  transport_options.max_message_bytes = std::max<int64_t>(0, FLAGS_ps_max_message_mb) << 20;
  transport_options.max_queued_bytes_per_peer =
      static_cast<uint64_t>(std::max<int64_t>(1, FLAGS_ps_max_queued_mb_per_peer)) << 20;
  net::ZmqTransport transport(transport_options);
  ps::PsServer server(options, &transport);
  Status started = server.Start();
  if (!started.ok()) return ReportError("ps", started);
  // With --scheduler the server joins that scheduler's job; without, it
  // serves until stopped.
  std::optional<scheduler::SchedulerServerMembership> membership;
  if (!FLAGS_scheduler.empty()) {
    scheduler::SchedulerClientOptions link;
    link.scheduler_address = FLAGS_scheduler;
    link.name = options.name;
    membership.emplace(&transport, link);
  }
  Status done = server.Run(stop, membership ? &*membership : nullptr);
  if (!done.ok()) return ReportError("ps", done);
  return 0;
}

}  // namespace iak::cli
