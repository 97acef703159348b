#include "cluster/inproc_cluster.h"

#include <memory>
#include <thread>
#include <utility>

#include "collective/inproc_communicator.h"
#include "net/inproc_transport.h"
#include "ps/ps_server.h"
#include "scheduler/scheduler.h"
#include "worker/method_evaluator.h"
#include "worker/worker.h"

namespace iak::cluster {

Status InProcClusterResult::Overall() const {
  // Nodes first: their errors are causes; the scheduler's (a node missing or
  // silent) is usually the consequence.
  for (size_t i = 0; i < servers.size(); ++i) {
    if (!servers[i].ok()) return servers[i].WithContext("ps-" + std::to_string(i));
  }
  for (size_t i = 0; i < workers.size(); ++i) {
    if (!workers[i].ok()) return workers[i].WithContext("worker-" + std::to_string(i));
  }
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
  scheduler::Scheduler scheduler(sched_options, &transport);
  result.scheduler = scheduler.Start();
  if (!result.scheduler.ok()) return result;

  std::vector<std::thread> threads;
  threads.emplace_back([&] { result.scheduler = scheduler.Run(stop); });
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
        options.scheduler_address = scheduler.address();
        // Trainable servers when the spec asks for them (full fine-tuning),
        // as `iak ps` sets them up from the spec's trainable block.
        if (spec.has_trainable()) {
          StatusOr<ps::RowOptimizerKind> kind = ps::ParseRowOptimizer(spec.trainable().optimizer());
          if (!kind.ok()) {
            result.servers[shard * replicas + replica] = kind.status();
            return;
          }
          options.trainable.enabled = true;
          options.trainable.optimizer.kind = *kind;
          if (spec.trainable().learning_rate() > 0) {
            options.trainable.optimizer.learning_rate = spec.trainable().learning_rate();
          }
          options.trainable.output_model_dir = worker::TrainedModelDir(spec);
        }
        ps::PsServer server(options, &transport);
        Status status = server.Start();
        if (status.ok()) status = server.Run(stop);
        result.servers[shard * replicas + replica] = status;
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
      result.adapters[rank] = worker.adapters();
      result.method_params[rank] = worker.trained_params();
      result.steps_done[rank] = worker.steps_done();
      if (rank == 0) result.domain_names = worker.domain_names();
    });
  }
  for (std::thread& t : threads) t.join();
  return result;
}

}  // namespace iak::cluster
