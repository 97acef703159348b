#include "cluster/inproc_cluster.h"

#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "collective/inproc_communicator.h"
#include "net/inproc_transport.h"
#include "ps/ps_server.h"
#include "ps/trainable_options.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_server_membership.h"
#include "worker/dense_models.h"
#include "worker/worker.h"

namespace iak::cluster {

namespace {

// The job's failures in the order they happen; the first is its cause.
// Thread-safe: the scheduler's and every node's thread record into it.
class FirstFailure {
 public:
  void Record(const Status& status) {
    if (status.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (first_.ok()) first_ = status;
  }
  Status first() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  Status first_;  // guarded by mu_
};

}  // namespace

Status InProcClusterResult::Overall() const {
  if (!first_failure.ok()) return first_failure;
  if (!scheduler.ok()) return scheduler.WithContext("scheduler");
  return Status::Ok();
}

InProcClusterResult RunInProcCluster(const proto::JobSpec& spec, const std::atomic<bool>& stop,
                                     scheduler::JobMetrics* metrics) {
  const int num_servers = spec.num_servers();
  const int num_workers = spec.num_workers();
  const int replicas = std::max(1, spec.replicas_per_shard());
  InProcClusterResult result;
  result.servers.resize(num_servers * replicas);
  result.workers.resize(num_workers);
  result.adapters.resize(num_workers);
  result.method_params.resize(num_workers);
  result.steps_done.resize(num_workers);
  result.keys_pulled.resize(num_workers);

  net::InProcTransport transport;
  scheduler::SchedulerOptions sched_options;
  sched_options.listen_address = "inproc://scheduler";
  sched_options.num_servers = num_servers;
  sched_options.replicas_per_shard = replicas;
  sched_options.num_workers = num_workers;
  sched_options.heartbeat_interval = Duration(spec.timeouts().heartbeat_interval_ms());
  sched_options.heartbeat_timeout = Duration(spec.timeouts().heartbeat_timeout_ms());
  sched_options.startup_timeout = Duration(spec.timeouts().startup_timeout_ms());
  sched_options.plan.assign(spec.phases().begin(), spec.phases().end());
  sched_options.elastic = scheduler::ElasticOptionsFor(spec);  // off unless elastic.enabled
  sched_options.metrics = metrics;
  // A node's error is recorded when its thread returns, which for a node
  // that told the scheduler (deregistered with its error) can be after the
  // scheduler stopped the job and others failed from that: the scheduler's
  // verdict, which names that node and its error, is recorded as it is
  // reached, before any node hears of it.
  FirstFailure failures;
  sched_options.on_stopped = [&failures](const Status& why) {
    failures.Record(why.WithContext("scheduler"));
  };
  scheduler::Scheduler scheduler(sched_options, &transport);
  result.scheduler = scheduler.Start();
  if (!result.scheduler.ok()) return result;

  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    result.scheduler = scheduler.Run(stop);
    failures.Record(result.scheduler.WithContext("scheduler"));
  });
  for (int shard = 0; shard < num_servers; ++shard) {
    for (int replica = 0; replica < replicas; ++replica) {
      threads.emplace_back([&, shard, replica] {
        ps::PsServerOptions options;
        options.model_dir = spec.model_dir();
        options.shard = shard;
        options.replica = replica;
        options.name =
            "ps-" + std::to_string(shard) + (replicas > 1 ? "-r" + std::to_string(replica) : "");
        options.listen_address = "inproc://" + options.name;
        // Trainable servers when the spec asks for them (full fine-tuning),
        // as `iak ps` sets them up from the spec's trainable block.
        if (spec.has_trainable()) {
          StatusOr<ps::RowOptimizerOptions> optimizer =
              ps::RowOptimizerOptionsFor(spec.trainable());
          if (!optimizer.ok()) {
            result.servers[shard * replicas + replica] = optimizer.status();
            failures.Record(optimizer.status().WithContext(options.name));
            return;
          }
          options.trainable.enabled = true;
          options.trainable.optimizer = *optimizer;
          options.trainable.output_model_dir = worker::TrainedModelDir(spec);
        }
        ps::PsServer server(options, &transport);
        scheduler::SchedulerClientOptions link;
        link.scheduler_address = scheduler.address();
        link.name = options.name;
        scheduler::SchedulerServerMembership membership(&transport, link);
        Status status = server.Start();
        if (status.ok()) status = server.Run(stop, &membership);
        result.servers[shard * replicas + replica] = status;
        failures.Record(status.WithContext(options.name));
      });
    }
  }
  auto group = std::make_shared<collective::InProcGroup>(num_workers);
  std::vector<std::string> domain_names(num_workers);
  for (int rank = 0; rank < num_workers; ++rank) {
    threads.emplace_back([&, rank] {
      collective::InProcCommunicator communicator(group, rank);
      worker::WorkerOptions options;
      options.spec = spec;
      options.scheduler_address = scheduler.address();
      worker::Worker worker(options, &transport, &communicator);
      result.workers[rank] = worker.Run(stop);
      failures.Record(result.workers[rank].WithContext("worker-" + std::to_string(rank)));
      result.adapters[rank] = worker.adapters();
      result.method_params[rank] = worker.trained_params();
      result.steps_done[rank] = worker.steps_done();
      result.keys_pulled[rank] = worker.keys_pulled();
      if (rank == 0) result.domain_names = worker.domain_names();
    });
  }
  for (std::thread& t : threads) t.join();
  result.first_failure = failures.first();
  return result;
}

}  // namespace iak::cluster
