// The pieces of an in-process elastic job the elastic tests share: the
// scheduler's options for a spec, and one PS shard served over the
// in-process transport until a stop flag is set (docs/elastic.md).
#ifndef IAK_TESTS_TESTING_INPROC_ELASTIC_H_
#define IAK_TESTS_TESTING_INPROC_ELASTIC_H_

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "net/transport.h"
#include "proto/job_spec.pb.h"
#include "ps/ps_server.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_server_membership.h"

namespace iak::testing_util {

// The scheduler of `spec` in elastic mode, listening on
// inproc://scheduler-<name>, with the spec's counts, timeouts and plan.
inline scheduler::SchedulerOptions ElasticSchedulerOptions(const proto::JobSpec& spec) {
  scheduler::SchedulerOptions sched_options;
  sched_options.listen_address = "inproc://scheduler-" + spec.name();
  sched_options.num_servers = spec.num_servers();
  sched_options.num_workers = spec.num_workers();
  sched_options.heartbeat_interval = Duration(spec.timeouts().heartbeat_interval_ms());
  sched_options.heartbeat_timeout = Duration(spec.timeouts().heartbeat_timeout_ms());
  sched_options.startup_timeout = Duration(spec.timeouts().startup_timeout_ms());
  sched_options.plan.assign(spec.phases().begin(), spec.phases().end());
  sched_options.elastic = scheduler::ElasticOptionsFor(spec);
  return sched_options;
}

// Serves `shard` of the spec's model as "ps-<shard>" on
// inproc://<name>-ps-<shard>, registered with the scheduler, until `stop`;
// run it on a thread. Expects Start() and Run() to succeed.
inline void ServeShard(const proto::JobSpec& spec, int shard, const std::string& scheduler_address,
                       net::Transport* transport, const std::atomic<bool>& stop) {
  ps::PsServerOptions options;
  options.model_dir = spec.model_dir();
  options.shard = shard;
  options.name = "ps-" + std::to_string(shard);
  options.listen_address = "inproc://" + spec.name() + "-ps-" + std::to_string(shard);
  ps::PsServer server(options, transport);
  scheduler::SchedulerClientOptions link;
  link.scheduler_address = scheduler_address;
  link.name = options.name;
  scheduler::SchedulerServerMembership membership(transport, link);
  Status status = server.Start();
  if (status.ok()) status = server.Run(stop, &membership);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_INPROC_ELASTIC_H_
