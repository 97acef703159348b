// A whole job as threads of one process over InProcTransport: servers and
// workers register, meet at barriers, and leave; failures and timeouts are
// driven by a ManualClock so they happen exactly when the test says.
#include "scheduler/scheduler.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net/inproc_transport.h"
#include "net/rpc.h"
#include "net/zmq_transport.h"
#include "scheduler/scheduler_client.h"

namespace iak::scheduler {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kWait = std::chrono::seconds(10);  // generous: only a hang hits it

proto::PhaseCommand Phase(proto::Phase phase, int64_t steps, float beta) {
  proto::PhaseCommand command;
  command.set_phase(phase);
  command.set_steps(steps);
  command.set_beta(beta);
  return command;
}

proto::RegisterRequest ServerRequest(int shard) {
  proto::RegisterRequest request;
  request.set_role(proto::ROLE_SERVER);
  request.set_shard(shard);
  request.set_address("inproc://ps-" + std::to_string(shard));
  return request;
}

proto::RegisterRequest WorkerRequest(int rank) {
  proto::RegisterRequest request;
  request.set_role(proto::ROLE_WORKER);
  request.set_rank(rank);
  return request;
}

class SchedulerTest : public testing::Test {
 protected:
  void TearDown() override {
    stop_ = true;
    if (run_.valid()) run_.wait();
  }

  SchedulerOptions Options(int servers, int workers) {
    SchedulerOptions options;
    options.listen_address = listen_address_;
    options.num_servers = servers;
    options.num_workers = workers;
    options.heartbeat_interval = Duration(20);
    options.plan = {Phase(proto::PHASE_COMPRESSION, 200, 0.01f),
                    Phase(proto::PHASE_MATCHING, 100, 0.02f)};
    return options;
  }

  // Starts the scheduler and runs it on a thread.
  void StartScheduler(SchedulerOptions options) {
    scheduler_ = std::make_unique<Scheduler>(std::move(options), transport_.get());
    ASSERT_TRUE(scheduler_->Start().ok());
    run_ = std::async(std::launch::async, [this] { return scheduler_->Run(stop_); });
  }

  // What Run returned; fails the test if it did not return in time.
  Status RunResult() {
    if (run_.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "Scheduler::Run did not return";
      return InternalError("hang");
    }
    return run_.get();
  }

  std::unique_ptr<SchedulerClient> Client(const std::string& name) {
    SchedulerClientOptions options;
    options.scheduler_address = scheduler_->address();
    options.name = name;
    return std::make_unique<SchedulerClient>(transport_.get(), options);
  }

  // A bare RPC client, for heartbeats the test sends itself.
  std::unique_ptr<net::RpcClient> RawClient() {
    auto connection = transport_->Connect(scheduler_->address());
    EXPECT_TRUE(connection.ok());
    return std::make_unique<net::RpcClient>(std::move(connection).value(), "test");
  }

  // Sends one heartbeat for `node_id`; returns the shutdown flag.
  static StatusOr<bool> Heartbeat(net::RpcClient* rpc, int node_id) {
    proto::Envelope request;
    request.mutable_heartbeat()->set_node_id(node_id);
    IAK_ASSIGN_OR_RETURN(net::RpcReply reply,
                         rpc->Call(request, {}, Deadline::After(Duration(5000))));
    return reply.header.heartbeat_response().shutdown();
  }

  // Declared first: outlives the scheduler and every client.
  std::unique_ptr<net::Transport> transport_ = std::make_unique<net::InProcTransport>();
  std::string listen_address_ = "inproc://scheduler";
  ManualClock clock_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Scheduler> scheduler_;
  std::future<Status> run_;

  // Runs 2 servers and 2 workers through the whole plan; see the tests below.
  void RunWholeJob();
};

void SchedulerTest::RunWholeJob() {
  SchedulerOptions options = Options(2, 2);
  const std::vector<proto::PhaseCommand> plan = options.plan;
  StartScheduler(options);

  std::vector<std::thread> nodes;
  for (int rank = 0; rank < 2; ++rank) {
    nodes.emplace_back([&, rank] {
      auto client = Client("worker-" + std::to_string(rank));
      auto id = client->Register(WorkerRequest(rank));
      ASSERT_TRUE(id.ok()) << id.status();
      client->StartHeartbeats([](proto::Heartbeat* heartbeat) { heartbeat->set_step(1); });
      const std::vector<std::string> names = {"start", "compression-done", "matching-done"};
      for (size_t k = 0; k < names.size(); ++k) {
        auto response = client->Barrier(names[k], Deadline::After(kWait));
        ASSERT_TRUE(response.ok()) << response.status();
        ASSERT_EQ(response->servers_size(), 2);
        for (int shard = 0; shard < 2; ++shard) {
          EXPECT_EQ(response->servers(shard).shard(), shard);
          EXPECT_EQ(response->servers(shard).address(), "inproc://ps-" + std::to_string(shard));
          EXPECT_EQ(response->servers(shard).name(), "ps-" + std::to_string(shard));
        }
        if (k < plan.size()) {
          EXPECT_EQ(response->command().SerializeAsString(), plan[k].SerializeAsString());
        } else {
          EXPECT_EQ(response->command().phase(), proto::PHASE_FINISHED);
          EXPECT_EQ(response->command().steps(), 0);
        }
      }
      EXPECT_FALSE(client->shutdown_requested());
      EXPECT_TRUE(client->Deregister().ok());
    });
  }
  // Servers register after the workers started: the first barrier waits for them.
  for (int shard = 0; shard < 2; ++shard) {
    nodes.emplace_back([&, shard] {
      auto client = Client("ps-" + std::to_string(shard));
      auto id = client->Register(ServerRequest(shard));
      ASSERT_TRUE(id.ok()) << id.status();
      client->StartHeartbeats(nullptr);
      // Servers serve until the scheduler says the job is over.
      const auto deadline = std::chrono::steady_clock::now() + kWait;
      while (!client->shutdown_requested() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ASSERT_TRUE(client->shutdown_requested());
      EXPECT_EQ(client->shutdown_reason(), "");
      EXPECT_TRUE(client->Deregister().ok());
    });
  }
  for (std::thread& node : nodes) node.join();
  Status result = RunResult();
  EXPECT_TRUE(result.ok()) << result;
}

TEST_F(SchedulerTest, WholeJobRunsThroughThePlan) { RunWholeJob(); }

TEST_F(SchedulerTest, WholeJobRunsOverZeroMq) {
  transport_ = std::make_unique<net::ZmqTransport>();
  listen_address_ = "tcp://127.0.0.1:0";
  RunWholeJob();
}

TEST_F(SchedulerTest, ConflictingRegistrationsAreRefused) {
  StartScheduler(Options(1, 2));
  auto first = Client("worker-0");
  auto id = first->Register(WorkerRequest(0));
  ASSERT_TRUE(id.ok()) << id.status();

  auto duplicate = Client("worker-0b");
  auto refused = duplicate->Register(WorkerRequest(0));
  ASSERT_EQ(refused.status().code(), StatusCode::kAlreadyExists) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("rank 0"));
  EXPECT_THAT(refused.status().message(), HasSubstr("worker-0 (node " + std::to_string(*id)));
  EXPECT_THAT(refused.status().message(), HasSubstr("worker-0b"));

  auto too_many = Client("worker-2");
  auto out_of_range = too_many->Register(WorkerRequest(2));
  EXPECT_EQ(out_of_range.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(out_of_range.status().message(), HasSubstr("rank 2"));

  auto ps = Client("ps-0");
  ASSERT_TRUE(ps->Register(ServerRequest(0)).ok());
  auto ps_twin = Client("ps-0-twin");
  auto shard_taken = ps_twin->Register(ServerRequest(0));
  EXPECT_EQ(shard_taken.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(shard_taken.status().message(), HasSubstr("shard 0"));

  // A retried registration (same request, reply lost) gets the same id back.
  auto again = first->Register(WorkerRequest(0));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *id);

  stop_ = true;
  EXPECT_EQ(RunResult().code(), StatusCode::kCancelled);
}

TEST_F(SchedulerTest, SilentWorkerFailsTheJobAndItsBarrier) {
  SchedulerOptions options = Options(1, 2);
  options.clock = &clock_;
  options.heartbeat_timeout = Duration(10000);
  StartScheduler(options);
  auto ps = Client("ps-0");
  auto w0 = Client("worker-0");
  auto w1 = Client("worker-1");
  auto ps_id = ps->Register(ServerRequest(0));
  auto w0_id = w0->Register(WorkerRequest(0));
  auto w1_id = w1->Register(WorkerRequest(1));
  ASSERT_TRUE(ps_id.ok() && w0_id.ok() && w1_id.ok());
  auto barrier = std::async(std::launch::async,
                            [&] { return w0->Barrier("start", Deadline::After(kWait)); });
  auto rpc = RawClient();

  // ps-0 and worker-0 keep beating; worker-1 has gone silent since t=0.
  clock_.Advance(Duration(6000));
  EXPECT_EQ(Heartbeat(rpc.get(), *ps_id).value(), false);
  EXPECT_EQ(Heartbeat(rpc.get(), *w0_id).value(), false);
  clock_.Advance(Duration(5000));  // t=11 s: only worker-1 is past the timeout

  ASSERT_EQ(barrier.wait_for(kWait), std::future_status::ready);
  auto response = barrier.get();
  ASSERT_EQ(response.status().code(), StatusCode::kUnavailable) << response.status();
  const std::string dead = "worker-1 (node " + std::to_string(*w1_id) + ")";
  EXPECT_THAT(response.status().message(), HasSubstr(dead));

  // The job failed before the barrier was answered: the survivors are told.
  EXPECT_EQ(Heartbeat(rpc.get(), *ps_id).value(), true);
  EXPECT_EQ(Heartbeat(rpc.get(), *w0_id).value(), true);
  Status result = RunResult();
  EXPECT_EQ(result.code(), StatusCode::kUnavailable) << result;
  EXPECT_THAT(result.message(), HasSubstr(dead + " sent no heartbeat for 11.0 s"));
  EXPECT_THAT(result.message(), Not(HasSubstr("worker-0")));
}

// Which failure a job reports must not depend on who registered when: a
// worker leaves with its error before ps-0 registers; ps-0 is refused naming
// that cause, and the job's verdict stays the first failure.
TEST_F(SchedulerTest, TheFirstFailureStaysTheCauseAndALateNodeIsToldIt) {
  SchedulerOptions options = Options(1, 2);
  options.clock = &clock_;
  std::vector<Status> stopped;  // written on the scheduler's thread, read after Run
  options.on_stopped = [&stopped](const Status& why) { stopped.push_back(why); };
  StartScheduler(options);
  // worker-0 is live and not yet told: the failed scheduler serves on (its
  // clock stands still) until the test stops it.
  auto w0 = Client("worker-0");
  auto w1 = Client("worker-1");
  ASSERT_TRUE(w0->Register(WorkerRequest(0)).ok());
  ASSERT_TRUE(w1->Register(WorkerRequest(1)).ok());
  ASSERT_TRUE(w1->Deregister("method \"full\" fine-tunes exactly one domain").ok());

  auto ps = Client("ps-0");
  auto late = ps->Register(ServerRequest(0));
  ASSERT_EQ(late.status().code(), StatusCode::kFailedPrecondition) << late.status();
  EXPECT_THAT(late.status().message(), HasSubstr("ps-0 cannot join: the job is already over"));
  EXPECT_THAT(late.status().message(), HasSubstr("worker-1"));
  EXPECT_THAT(late.status().message(), HasSubstr("exactly one domain"));

  stop_ = true;  // a later stop changes nothing either
  Status result = RunResult();
  EXPECT_EQ(result.code(), StatusCode::kFailedPrecondition) << result;
  EXPECT_THAT(result.message(), HasSubstr("worker-1"));
  EXPECT_THAT(result.message(), HasSubstr("exactly one domain"));
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].ToString(), result.ToString());
}

TEST_F(SchedulerTest, StartupTimeoutListsMissingNodes) {
  SchedulerOptions options = Options(2, 2);
  options.clock = &clock_;
  options.startup_timeout = Duration(120000);
  options.heartbeat_timeout = Duration(1000000);  // only the startup deadline matters
  StartScheduler(options);
  auto ps1 = Client("ps-1");
  auto w0 = Client("worker-0");
  auto ps1_id = ps1->Register(ServerRequest(1));
  auto w0_id = w0->Register(WorkerRequest(0));
  ASSERT_TRUE(ps1_id.ok() && w0_id.ok());
  auto barrier = std::async(std::launch::async,
                            [&] { return w0->Barrier("start", Deadline::After(kWait)); });

  clock_.Advance(Duration(121000));
  ASSERT_EQ(barrier.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(barrier.get().status().code(), StatusCode::kDeadlineExceeded);

  auto rpc = RawClient();
  EXPECT_EQ(Heartbeat(rpc.get(), *ps1_id).value(), true);
  EXPECT_EQ(Heartbeat(rpc.get(), *w0_id).value(), true);
  Status result = RunResult();
  ASSERT_EQ(result.code(), StatusCode::kDeadlineExceeded) << result;
  EXPECT_THAT(result.message(), HasSubstr("server of shard 0"));
  EXPECT_THAT(result.message(), HasSubstr("worker of rank 1"));
  EXPECT_THAT(result.message(), Not(HasSubstr("shard 1")));
  EXPECT_THAT(result.message(), Not(HasSubstr("rank 0")));
}

TEST_F(SchedulerTest, MismatchedBarrierNamesAreRefused) {
  StartScheduler(Options(0, 2));
  auto w0 = Client("worker-0");
  auto w1 = Client("worker-1");
  ASSERT_TRUE(w0->Register(WorkerRequest(0)).ok());
  ASSERT_TRUE(w1->Register(WorkerRequest(1)).ok());
  auto a = std::async(std::launch::async,
                      [&] { return w0->Barrier("start", Deadline::After(kWait)); });
  auto b = std::async(std::launch::async,
                      [&] { return w1->Barrier("begin", Deadline::After(kWait)); });
  // Whichever arrived second is refused; the first keeps waiting until the
  // job is cancelled.
  while (a.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready &&
         b.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
  }
  const bool a_refused = a.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  auto refused = a_refused ? a.get() : b.get();
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("'start'"));
  EXPECT_THAT(refused.status().message(), HasSubstr("'begin'"));
  stop_ = true;
  auto waiting = a_refused ? b.get() : a.get();
  EXPECT_EQ(waiting.status().code(), StatusCode::kCancelled) << waiting.status();
  EXPECT_EQ(RunResult().code(), StatusCode::kCancelled);
}

TEST_F(SchedulerTest, BadOptionsAreRefusedAtStart) {
  SchedulerOptions options = Options(1, 0);
  Scheduler no_workers(options, transport_.get());
  EXPECT_EQ(no_workers.Start().code(), StatusCode::kInvalidArgument);
  options = Options(1, 1);
  options.plan.push_back(Phase(proto::PHASE_FINISHED, 0, 0));
  Scheduler bad_plan(options, transport_.get());
  EXPECT_EQ(bad_plan.Start().code(), StatusCode::kInvalidArgument);
  std::atomic<bool> stop{false};
  EXPECT_EQ(bad_plan.Run(stop).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace iak::scheduler

namespace iak::scheduler {
namespace {

proto::RegisterRequest ReplicaRequest(int shard, int replica) {
  proto::RegisterRequest request;
  request.set_role(proto::ROLE_SERVER);
  request.set_shard(shard);
  request.set_replica(replica);
  request.set_name("ps-" + std::to_string(shard) + "-r" + std::to_string(replica));
  request.set_address("inproc://" + request.name());
  return request;
}

TEST_F(SchedulerTest, ADeadReplicaIsDroppedWhileItsShardHasAnother) {
  SchedulerOptions options = Options(1, 1);
  options.replicas_per_shard = 2;
  options.clock = &clock_;
  options.heartbeat_timeout = Duration(10000);
  StartScheduler(options);
  auto r0 = Client("ps-0-r0");
  auto r1 = Client("ps-0-r1");
  auto worker = Client("worker-0");
  auto r0_id = r0->Register(ReplicaRequest(0, 0));
  auto r1_id = r1->Register(ReplicaRequest(0, 1));
  auto w_id = worker->Register(WorkerRequest(0));
  ASSERT_TRUE(r0_id.ok() && r1_id.ok() && w_id.ok());
  // A second server for the same (shard, replica) is refused.
  proto::RegisterRequest other = ReplicaRequest(0, 1);
  other.set_name("ps-0-r1b");
  other.set_address("inproc://ps-0-r1b");
  auto duplicate = Client("ps-0-r1b")->Register(other);
  EXPECT_EQ(duplicate.status().code(), StatusCode::kAlreadyExists);

  auto start = worker->Barrier("start", Deadline::After(kWait));
  ASSERT_TRUE(start.ok()) << start.status();
  ASSERT_EQ(start->servers_size(), 2);
  EXPECT_EQ(start->servers(0).replica(), 0);
  EXPECT_EQ(start->servers(1).replica(), 1);

  // Replica 1 goes silent; replica 0 and the worker keep beating.
  auto rpc = RawClient();
  clock_.Advance(Duration(6000));
  EXPECT_EQ(Heartbeat(rpc.get(), *r0_id).value(), false);
  EXPECT_EQ(Heartbeat(rpc.get(), *w_id).value(), false);
  clock_.Advance(Duration(5000));
  EXPECT_EQ(Heartbeat(rpc.get(), *r0_id).value(), false);  // the job goes on
  EXPECT_EQ(Heartbeat(rpc.get(), *w_id).value(), false);
  auto next = worker->Barrier("compression-done", Deadline::After(kWait));
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->servers_size(), 1);  // only the live replica is handed out
  EXPECT_EQ(next->servers(0).name(), "ps-0-r0");

  // The last replica of the shard dies too: now the job fails.
  clock_.Advance(Duration(9000));
  EXPECT_EQ(Heartbeat(rpc.get(), *w_id).value(), false);
  clock_.Advance(Duration(2000));
  // The failure is seen at the next tick; the surviving worker is then told
  // to shut down (bounded wait: ticks run on real time).
  const Deadline told = Deadline::After(Duration(10000));
  while (!Heartbeat(rpc.get(), *w_id).value() && !told.Expired()) {
    std::this_thread::yield();
  }
  Status result = RunResult();
  EXPECT_EQ(result.code(), StatusCode::kUnavailable) << result;
  EXPECT_THAT(result.message(), HasSubstr("ps-0-r0"));
}

}  // namespace
}  // namespace iak::scheduler
