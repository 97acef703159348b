// A parameter server in a job: it registers with the scheduler, a worker finds
// it through a barrier and pulls from it, and the server stops, deregistering,
// once the scheduler ends the job.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "net/inproc_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_client.h"
#include "scheduler/scheduler_server_membership.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::ps {
namespace {

using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 4;

TEST(EmbeddingPsSchedulerTest, ServerRegistersServesAndStopsWithTheJob) {
  TempDir tmp;
  const Table table = RandomTable(/*seed=*/23, /*num_keys=*/100, kDim);
  const std::string model_dir = tmp.Sub("model");
  ASSERT_TRUE(embedding::WriteModelDirectory(model_dir, ContentsOf(table, kDim, 1)).ok());
  net::InProcTransport transport;

  scheduler::SchedulerOptions job;
  job.listen_address = "inproc://scheduler";
  job.num_servers = 1;
  job.num_workers = 1;
  job.heartbeat_interval = Duration(20);
  job.heartbeat_timeout = Duration(5000);
  job.startup_timeout = Duration(10000);
  job.shutdown_grace = Duration(5000);
  scheduler::Scheduler scheduler(job, &transport);
  ASSERT_TRUE(scheduler.Start().ok());
  std::atomic<bool> stop_scheduler{false};
  Status job_status;
  std::thread scheduler_thread([&] { job_status = scheduler.Run(stop_scheduler); });

  PsServerOptions options;
  options.model_dir = model_dir;
  options.listen_address = "inproc://ps-0";
  PsServer server(options, &transport);
  scheduler::SchedulerClientOptions link;
  link.scheduler_address = "inproc://scheduler";
  link.name = options.name;
  scheduler::SchedulerServerMembership membership(&transport, link);
  ASSERT_TRUE(server.Start().ok());
  std::atomic<bool> stop_server{false};
  Status served;
  std::thread server_thread([&] { served = server.Run(stop_server, &membership); });

  // The worker.
  scheduler::SchedulerClientOptions worker_options;
  worker_options.scheduler_address = "inproc://scheduler";
  worker_options.name = "worker-0";
  {
    scheduler::SchedulerClient worker(&transport, worker_options);
    proto::RegisterRequest request;
    request.set_role(proto::ROLE_WORKER);
    request.set_rank(0);
    ASSERT_TRUE(worker.Register(request).ok());
    worker.StartHeartbeats(nullptr);
    StatusOr<proto::BarrierResponse> start = worker.Barrier("start", Deadline::After(Duration(10000)));
    ASSERT_TRUE(start.ok()) << start.status();
    ASSERT_EQ(start->servers_size(), 1);
    EXPECT_EQ(start->servers(0).address(), "inproc://ps-0");

    PsClientOptions client_options;
    client_options.servers.assign(start->servers().begin(), start->servers().end());
    client_options.snapshot_id = server.snapshot_id();
    client_options.dim = kDim;
    client_options.name = "worker-0";
    PsClient client(client_options, &transport);
    ASSERT_TRUE(client.Connect().ok());
    const uint64_t key = table.begin()->first;
    float row[kDim];
    ASSERT_TRUE(client.Pull(&key, 1, row, nullptr).ok());
    EXPECT_EQ(std::memcmp(row, table.begin()->second.data(), sizeof(row)), 0);
    EXPECT_TRUE(worker.Deregister().ok());
  }

  // The job is over: the scheduler tells the server, which stops by itself.
  server_thread.join();
  EXPECT_TRUE(served.ok()) << served;
  stop_scheduler.store(true);  // only a safety net should the job not end
  scheduler_thread.join();
  EXPECT_TRUE(job_status.ok()) << job_status;
}

}  // namespace
}  // namespace iak::ps
