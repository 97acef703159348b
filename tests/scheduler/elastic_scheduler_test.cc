// The scheduler's elastic mode (docs/elastic.md, "Sync protocol"): epochs,
// sync points, joins, drops on silence (driven by a ManualClock), scale
// requests and the minimum worker count. Workers are SchedulerClients over
// the in-process transport; no heartbeats are sent, so node ages move only
// when the test advances the clock. The order is the test's: every request
// is sent from the test's thread (only the waits for replies are on other
// threads), and the scheduler serves them one at a time in arrival order.
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
#include "scheduler/job_metrics.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_client.h"

namespace iak::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kWait = std::chrono::seconds(10);  // only a hang hits it

class ElasticSchedulerTest : public testing::Test {
 protected:
  void TearDown() override {
    stop_ = true;
    // A cancelled scheduler drains for a while on its (manual) clock.
    while (run_.valid() &&
           run_.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
      clock_.Advance(Duration(1000));
    }
  }

  void Start(int workers, int min_workers, int max_workers,
             Duration startup_timeout = Duration(120000), int max_failed_rounds = 3) {
    SchedulerOptions options;
    options.startup_timeout = startup_timeout;
    options.listen_address = "inproc://elastic-scheduler";
    options.num_servers = 0;
    options.num_workers = workers;
    options.heartbeat_interval = Duration(100);
    options.heartbeat_timeout = Duration(1000);
    options.clock = &clock_;
    proto::PhaseCommand phase;
    phase.set_phase(proto::PHASE_COMPRESSION);
    phase.set_steps(8);
    options.plan = {phase};
    options.elastic.enabled = true;
    options.elastic.min_workers = min_workers;
    options.elastic.max_workers = max_workers;
    options.elastic.sync_every_steps = 4;
    options.elastic.max_failed_rounds = max_failed_rounds;
    options.metrics = &metrics_;
    scheduler_ = std::make_unique<Scheduler>(std::move(options), &transport_);
    ASSERT_TRUE(scheduler_->Start().ok());
    run_ = std::async(std::launch::async, [this] { return scheduler_->Run(stop_); });
  }

  // `rank` is the worker's rank hint for the first epoch (-1: none).
  std::unique_ptr<SchedulerClient> Worker(const std::string& name, int rank = -1) {
    auto client = Client(name);
    StatusOr<int> registered = Register(client.get(), rank);
    EXPECT_TRUE(registered.ok()) << registered.status();
    return client;
  }

  std::unique_ptr<SchedulerClient> Client(const std::string& name) {
    SchedulerClientOptions options;
    options.scheduler_address = scheduler_->address();
    options.name = name;
    return std::make_unique<SchedulerClient>(&transport_, options);
  }

  static StatusOr<int> Register(SchedulerClient* client, int rank = -1) {
    proto::RegisterRequest request;
    request.set_role(proto::ROLE_WORKER);
    request.set_rank(rank);
    return client->Register(request);
  }

  // A heartbeat naming `node_id`, answered once the scheduler handled it.
  Status Heartbeat(int node_id) {
    net::RpcClient rpc(Connect(), "test");
    proto::Envelope envelope;
    envelope.mutable_heartbeat()->set_node_id(node_id);
    return rpc.Call(std::move(envelope), {}, Deadline::After(kWait)).status();
  }

  // Stops the scheduler and waits for Run to return.
  void StopAndWait() {
    stop_ = true;
    while (run_.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
      clock_.Advance(Duration(1000));
    }
  }

  // worker-a and worker-b (ranks 0 and 1) register and form the first epoch.
  void FormFirstEpochOfTwo(std::unique_ptr<SchedulerClient>* a,
                           std::unique_ptr<SchedulerClient>* b) {
    *a = Worker("worker-a", 0);
    *b = Worker("worker-b", 1);
    auto fa = Sync(a->get(), 0), fb = Sync(b->get(), 0);
    Get(&fa);
    Get(&fb);
  }

  static proto::JobPosition At(int64_t global_step) {
    proto::JobPosition p;
    p.set_phase_index(global_step >= 8 ? 1 : 0);
    p.set_phase_step(global_step >= 8 ? 0 : global_step);
    p.set_global_step(global_step);
    return p;
  }

  // Sends `client`'s sync now, from this thread, so that it reaches the
  // scheduler before whatever the test sends next (the in-process transport
  // delivers in send order); its reply is awaited on another thread, since
  // it waits for the others.
  std::future<StatusOr<proto::SyncResponse>> Sync(SchedulerClient* client, int64_t step,
                                                  const std::string& failure = "") {
    auto rpc = std::make_shared<net::RpcClient>(Connect(), "sync of node " +
                                                               std::to_string(client->node_id()));
    proto::Envelope envelope;
    proto::SyncRequest* request = envelope.mutable_sync_request();
    request->set_node_id(client->node_id());
    *request->mutable_position() = At(step);
    request->set_failure(failure);
    StatusOr<uint64_t> id = rpc->Send(std::move(envelope));
    return std::async(std::launch::async, [rpc, id]() -> StatusOr<proto::SyncResponse> {
      if (!id.ok()) return id.status();
      IAK_ASSIGN_OR_RETURN(net::RpcReply reply, rpc->Await(*id, Deadline::After(Duration(10000))));
      return reply.header.sync_response();
    });
  }

  // Returns once the scheduler has handled every request sent before: it
  // serves them in arrival order, so its answer to one more (a heartbeat of
  // no node, refused at once and changing nothing) comes after theirs. The
  // test then moves the clock knowing what the scheduler has seen.
  void Handled() {
    net::RpcClient rpc(Connect(), "test");
    proto::Envelope envelope;
    envelope.mutable_heartbeat()->set_node_id(-1);
    auto reply = rpc.Call(std::move(envelope), {}, Deadline::After(kWait));
    EXPECT_NE(reply.status().code(), StatusCode::kDeadlineExceeded) << reply.status();
  }

  std::unique_ptr<net::Connection> Connect() {
    auto connection = transport_.Connect(scheduler_->address());
    EXPECT_TRUE(connection.ok()) << connection.status();
    return std::move(connection).value();
  }

  static proto::SyncResponse Get(std::future<StatusOr<proto::SyncResponse>>* f) {
    EXPECT_EQ(f->wait_for(kWait), std::future_status::ready);
    StatusOr<proto::SyncResponse> r = f->get();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : proto::SyncResponse();
  }

  // One round in which both workers report `failure_a` / `failure_b` (empty:
  // none) at `step_a` / `step_b`; expects it rolled back to `committed` in a
  // new epoch and returns that epoch.
  int64_t FailedRound(SchedulerClient* a, int64_t step_a, const std::string& failure_a,
                      SchedulerClient* b, int64_t step_b, const std::string& failure_b,
                      int64_t committed) {
    auto fa = Sync(a, step_a, failure_a), fb = Sync(b, step_b, failure_b);
    proto::SyncResponse ra = Get(&fa), rb = Get(&fb);
    EXPECT_EQ(ra.action(), proto::SyncResponse::ACTION_TRAIN);
    EXPECT_TRUE(ra.restore());
    EXPECT_TRUE(rb.restore());
    EXPECT_EQ(ra.position().global_step(), committed);
    EXPECT_EQ(rb.membership_epoch(), ra.membership_epoch());
    return ra.membership_epoch();
  }

  // Both workers sync at `step` with no failure: a new sync point.
  void CommittedRound(SchedulerClient* a, SchedulerClient* b, int64_t step) {
    auto fa = Sync(a, step), fb = Sync(b, step);
    proto::SyncResponse ra = Get(&fa), rb = Get(&fb);
    EXPECT_FALSE(ra.restore());
    EXPECT_EQ(ra.position().global_step(), step);
    EXPECT_EQ(rb.position().global_step(), step);
  }

  // The run's outcome once the scheduler drained after a failure.
  Status Outcome() {
    clock_.Advance(Duration(1000));  // the scheduler's drain period after a failure
    EXPECT_EQ(run_.wait_for(kWait), std::future_status::ready);
    return run_.valid() ? run_.get() : Status::Ok();
  }

  net::InProcTransport transport_;
  ManualClock clock_;
  JobMetrics metrics_{"elastic-job"};
  std::atomic<bool> stop_{false};
  std::unique_ptr<Scheduler> scheduler_;
  std::future<Status> run_;
};

TEST_F(ElasticSchedulerTest, EpochsFollowDropsJoinsAndScaleRequests) {
  Start(3, 1, 4);
  auto a = Worker("worker-a", 0);
  auto b = Worker("worker-b", 1);
  auto c = Worker("worker-c", 2);
  auto fa = Sync(a.get(), 0), fb = Sync(b.get(), 0), fc = Sync(c.get(), 0);
  proto::SyncResponse ra = Get(&fa), rb = Get(&fb), rc = Get(&fc);
  EXPECT_EQ(ra.action(), proto::SyncResponse::ACTION_TRAIN);
  EXPECT_EQ(ra.membership_epoch(), 1);
  EXPECT_EQ(ra.store_prefix(), "epoch-1/");
  EXPECT_EQ(ra.size(), 3);
  EXPECT_THAT(ra.members(), ElementsAre("worker-a", "worker-b", "worker-c"));
  EXPECT_EQ(ra.rank(), 0);  // the rank hints
  EXPECT_EQ(rb.rank(), 1);
  EXPECT_EQ(rc.rank(), 2);
  EXPECT_EQ(ra.plan_size(), 1);
  EXPECT_EQ(ra.sync_every_steps(), 4);
  EXPECT_FALSE(ra.restore());

  // worker-c goes silent; the others' collective fails and they report it.
  clock_.Advance(Duration(600));
  fa = Sync(a.get(), 2, "peer closed the connection");
  fb = Sync(b.get(), 2, "peer closed the connection");
  Handled();  // a and b were seen at 0.6 s
  EXPECT_EQ(fa.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  clock_.Advance(Duration(500));  // c is 1.1 s silent, a and b 0.5 s
  ra = Get(&fa);
  rb = Get(&fb);
  EXPECT_EQ(ra.membership_epoch(), 2);
  EXPECT_EQ(ra.size(), 2);
  EXPECT_TRUE(ra.restore());           // the failed segment is redone
  EXPECT_EQ(ra.position().global_step(), 0);  // from the last sync point
  EXPECT_THAT(ra.members(), ElementsAre("worker-a", "worker-b"));

  // A new worker asks to join; it is admitted at the next sync and receives
  // the state from rank 0.
  auto d = Worker("worker-d");
  auto fd = Sync(d.get(), 0);
  EXPECT_EQ(fd.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  auto scaled = SchedulerClient::Scale(&transport_, scheduler_->address(), 3,
                                       Deadline::After(Duration(5000)));
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ(scaled->previous_workers(), 3);
  fa = Sync(a.get(), 4);
  fb = Sync(b.get(), 4);
  ra = Get(&fa);
  rb = Get(&fb);
  proto::SyncResponse rd = Get(&fd);
  EXPECT_EQ(rd.membership_epoch(), 3);
  EXPECT_EQ(rd.rank(), 2);
  EXPECT_TRUE(rd.receive_state());
  EXPECT_TRUE(ra.broadcast_state());
  EXPECT_FALSE(ra.restore());
  EXPECT_EQ(rd.position().global_step(), 4);

  // Scale down to 1: the highest ranks leave cleanly at the next sync.
  scaled = SchedulerClient::Scale(&transport_, scheduler_->address(), 1,
                                  Deadline::After(Duration(5000)));
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  auto out_of_range = SchedulerClient::Scale(&transport_, scheduler_->address(), 5,
                                             Deadline::After(Duration(5000)));
  EXPECT_EQ(out_of_range.status().code(), StatusCode::kInvalidArgument);
  fa = Sync(a.get(), 6);
  fb = Sync(b.get(), 6);
  fd = Sync(d.get(), 6);
  ra = Get(&fa);
  rb = Get(&fb);
  rd = Get(&fd);
  EXPECT_EQ(ra.membership_epoch(), 4);
  EXPECT_EQ(ra.size(), 1);
  EXPECT_EQ(rb.action(), proto::SyncResponse::ACTION_LEAVE);
  EXPECT_EQ(rd.action(), proto::SyncResponse::ACTION_LEAVE);
  EXPECT_TRUE(b->Deregister().ok());
  EXPECT_TRUE(d->Deregister().ok());

  // The plan ends at global step 8: FINISH, and the job ends when a leaves.
  fa = Sync(a.get(), 8);
  ra = Get(&fa);
  EXPECT_EQ(ra.action(), proto::SyncResponse::ACTION_FINISH);
  EXPECT_TRUE(a->Deregister().ok());
  ASSERT_EQ(run_.wait_for(kWait), std::future_status::ready);
  Status result = run_.get();
  EXPECT_TRUE(result.ok()) << result;
}

// A joiner whose first segment fails never had its received state confirmed:
// after the failed round it receives it again instead of restoring its own.
TEST_F(ElasticSchedulerTest, AJoinerReceivesTheStateAgainAfterAFailedRound) {
  Start(2, 1, 3);
  auto a = Worker("worker-a", 0);
  auto b = Worker("worker-b", 1);
  auto fa = Sync(a.get(), 0), fb = Sync(b.get(), 0);
  Get(&fa);
  Get(&fb);
  auto d = Worker("worker-d");
  auto fd = Sync(d.get(), 0);  // waiting to join before a and b reach step 4
  ASSERT_TRUE(SchedulerClient::Scale(&transport_, scheduler_->address(), 3,
                                     Deadline::After(Duration(5000))).ok());
  fa = Sync(a.get(), 4);
  fb = Sync(b.get(), 4);
  proto::SyncResponse rd = Get(&fd);
  Get(&fa);
  Get(&fb);
  EXPECT_TRUE(rd.receive_state());
  fa = Sync(a.get(), 6, "peer closed the connection");
  fb = Sync(b.get(), 6, "peer closed the connection");
  fd = Sync(d.get(), 6, "peer closed the connection");
  proto::SyncResponse ra = Get(&fa);
  rd = Get(&fd);
  Get(&fb);
  EXPECT_TRUE(ra.restore());
  EXPECT_TRUE(ra.broadcast_state());
  EXPECT_FALSE(rd.restore());
  EXPECT_TRUE(rd.receive_state());
  EXPECT_EQ(rd.position().global_step(), 4);
  EXPECT_EQ(rd.membership_epoch(), 3);
}

TEST_F(ElasticSchedulerTest, BelowMinWorkersFailsNamingTheDead) {
  Start(3, 2, 3);
  auto a = Worker("worker-a", 0);
  auto b = Worker("worker-b", 1);
  auto c = Worker("worker-c", 2);
  auto fa = Sync(a.get(), 0), fb = Sync(b.get(), 0), fc = Sync(c.get(), 0);
  Get(&fa);
  Get(&fb);
  Get(&fc);
  EXPECT_TRUE(b->Deregister("worker-b crashed: out of memory").ok());
  clock_.Advance(Duration(600));
  fa = Sync(a.get(), 2, "peer closed the connection");
  Handled();  // a was seen at 0.6 s
  clock_.Advance(Duration(500));  // c is silent for 1.1 s: only a remains
  StatusOr<proto::SyncResponse> r = fa.get();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("below elastic.min_workers=2"));
  EXPECT_THAT(r.status().message(), HasSubstr("worker-b"));
  EXPECT_THAT(r.status().message(), HasSubstr("out of memory"));
  EXPECT_THAT(r.status().message(), HasSubstr("worker-c"));
  EXPECT_THAT(r.status().message(), HasSubstr("no heartbeat"));
  clock_.Advance(Duration(1000));  // the scheduler's drain period after a failure
  ASSERT_EQ(run_.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(run_.get().code(), StatusCode::kUnavailable);
}

// A failure that repeats in every epoch (here: one worker cannot reach the
// other's Gloo address) while both keep heartbeating: max_failed_rounds=2
// rounds at the sync point are retried, the third ends the job naming the
// position, the members and their failures, and every waiting sync gets it.
TEST_F(ElasticSchedulerTest, RepeatedFailedRoundsAtOneSyncPointFailTheJob) {
  Start(2, 1, 2, Duration(120000), /*max_failed_rounds=*/2);
  std::unique_ptr<SchedulerClient> a, b;
  FormFirstEpochOfTwo(&a, &b);
  CommittedRound(a.get(), b.get(), 4);
  const std::string unreachable =
      "Unavailable: gloo group 'epoch-2/' (rank 0 of 2): could not connect to its peers "
      "(check that '192.0.2.1' is reachable from the other ranks)";
  const std::string timed_out = "DeadlineExceeded: the group was not formed before the deadline";
  EXPECT_EQ(FailedRound(a.get(), 4, unreachable, b.get(), 4, timed_out, 4), 2);
  EXPECT_EQ(FailedRound(a.get(), 4, unreachable, b.get(), 4, timed_out, 4), 3);

  auto fa = Sync(a.get(), 4, unreachable), fb = Sync(b.get(), 4, timed_out);
  for (auto* f : {&fa, &fb}) {
    ASSERT_EQ(f->wait_for(kWait), std::future_status::ready);
    StatusOr<proto::SyncResponse> r = f->get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
    EXPECT_THAT(r.status().message(),
                HasSubstr("3 consecutive membership epochs failed at phase 0 step 4 (global "
                          "step 4) without progress"));
    EXPECT_THAT(r.status().message(), HasSubstr("last failure from worker-a"));
    EXPECT_THAT(r.status().message(), HasSubstr("'192.0.2.1' is reachable"));
    EXPECT_THAT(r.status().message(), HasSubstr("worker-b"));
    EXPECT_THAT(r.status().message(), HasSubstr("not formed before the deadline"));
    EXPECT_THAT(r.status().message(), HasSubstr("gloo_hostname"));
  }
  // Later syncs (a worker that retries) are refused with the same cause.
  auto late = Sync(a.get(), 4, unreachable);
  StatusOr<proto::SyncResponse> refused = late.get();
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("consecutive membership epochs failed"));
  const Status outcome = Outcome();
  EXPECT_EQ(outcome.code(), StatusCode::kUnavailable);
  EXPECT_THAT(outcome.message(), HasSubstr("elastic.max_failed_rounds=2"));
}

// The count is of consecutive failed rounds at one sync point: a round that
// commits a new position starts it again. Members that disagree on the
// position fail a round too.
TEST_F(ElasticSchedulerTest, ACommittedRoundResetsTheFailedRoundCount) {
  Start(2, 1, 2, Duration(120000), /*max_failed_rounds=*/2);
  std::unique_ptr<SchedulerClient> a, b;
  FormFirstEpochOfTwo(&a, &b);
  FailedRound(a.get(), 0, "", b.get(), 0, "peer closed the connection", 0);
  FailedRound(a.get(), 4, "", b.get(), 2, "", 0);  // positions disagree
  CommittedRound(a.get(), b.get(), 4);
  // Two more failed rounds at the new sync point are retried again.
  FailedRound(a.get(), 4, "peer closed the connection", b.get(), 4, "", 4);
  FailedRound(a.get(), 6, "", b.get(), 5, "", 4);
  EXPECT_EQ(run_.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  // The third in a row ends the job; with no failure reported, the last
  // failure is the disagreement, naming the member and both positions.
  auto fa = Sync(a.get(), 6), fb = Sync(b.get(), 5);
  StatusOr<proto::SyncResponse> r = fa.get();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("3 consecutive membership epochs failed at phase 0 step 4"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("last failure from worker-b (node 2): members report different "
                        "positions: it is at phase 0 step 5 (global step 5), rank 0 at "
                        "phase 0 step 6 (global step 6)"));
  EXPECT_FALSE(fb.get().ok());
  EXPECT_EQ(Outcome().code(), StatusCode::kUnavailable);
}

// An elastic job holds at most kRegisteredWorkersPerMember * max_workers
// live workers: here 2 members and 2 waiting. One more is refused, naming the
// limit; once a member is dropped, a replacement gets in and joins.
TEST_F(ElasticSchedulerTest, WorkersBeyondTheCapAreRefusedButAReplacementGetsIn) {
  Start(2, 1, 2);
  std::unique_ptr<SchedulerClient> a, b;
  FormFirstEpochOfTwo(&a, &b);
  auto c = Worker("worker-c");
  auto d = Worker("worker-d");
  auto extra = Client("worker-e");
  StatusOr<int> refused = Register(extra.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("worker-e cannot join"));
  EXPECT_THAT(refused.status().message(), HasSubstr("holds 4 live workers"));
  EXPECT_THAT(refused.status().message(), HasSubstr("elastic.max_workers=2 members (2 now)"));
  EXPECT_THAT(refused.status().message(), HasSubstr("(2 others now)"));

  EXPECT_TRUE(b->Deregister("worker-b crashed: out of memory").ok());  // dropped
  auto e = Worker("worker-e");
  auto fe = Sync(e.get(), 0);  // waits to join before a reaches step 4
  auto fa = Sync(a.get(), 4);
  proto::SyncResponse ra = Get(&fa), re = Get(&fe);
  EXPECT_EQ(ra.membership_epoch(), 2);
  EXPECT_THAT(ra.members(), ElementsAre("worker-a", "worker-e"));
  EXPECT_EQ(re.rank(), 1);
  EXPECT_TRUE(re.receive_state());
  // Still 4 live (a, c, d, e): the cap holds after the replacement too.
  EXPECT_EQ(Register(Client("worker-f").get()).status().code(),
            StatusCode::kFailedPrecondition);
}

// Workers that register and deregister over and over (restarts, or a peer
// in a loop) leave at most kMaxLeftNodes left nodes behind, here and in
// /metrics: the oldest are forgotten, and a forgotten node's heartbeat is
// refused as one from a node that never registered.
TEST_F(ElasticSchedulerTest, LeftNodesBeyondTheCapAreForgotten) {
  Start(2, 1, 2);
  auto a = Worker("worker-a", 0);
  const size_t cycles = kMaxLeftNodes + 10;
  int first = -1, last = -1;
  for (size_t i = 0; i < cycles; ++i) {
    auto cycler = Worker("cycler-" + std::to_string(i));
    (i == 0 ? first : last) = cycler->node_id();
    ASSERT_TRUE(cycler->Deregister().ok());
  }
  const Status forgotten = Heartbeat(first);
  EXPECT_EQ(forgotten.code(), StatusCode::kNotFound) << forgotten;
  EXPECT_THAT(forgotten.message(), HasSubstr("is not registered with this scheduler"));
  EXPECT_TRUE(Heartbeat(last).ok());  // recent: still remembered
  EXPECT_TRUE(Heartbeat(a->node_id()).ok());
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("iak_nodes{job=\"elastic-job\",role=\"worker\",status=\"left\"} " +
                      std::to_string(kMaxMetricEndedNodes) + "\n"),
            std::string::npos)
      << text.substr(0, 2000);
  StopAndWait();
  EXPECT_EQ(scheduler_->node_count(), kMaxLeftNodes + 1);  // a and the latest left ones
}

// The job's error names the latest 16 dropped workers and counts the ones
// before, however many came and went.
TEST_F(ElasticSchedulerTest, TheErrorNamesOnlyTheLatestDroppedWorkers) {
  Start(2, 2, 2);
  std::unique_ptr<SchedulerClient> a, b;
  FormFirstEpochOfTwo(&a, &b);
  for (int i = 0; i < 20; ++i) {
    auto cycler = Worker("cycler-" + std::to_string(i));
    ASSERT_TRUE(cycler->Deregister().ok());
  }
  auto fa = Sync(a.get(), 4);
  EXPECT_TRUE(b->Deregister("worker-b crashed: out of memory").ok());
  StatusOr<proto::SyncResponse> r = fa.get();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("below elastic.min_workers=2"));
  EXPECT_THAT(r.status().message(), HasSubstr("out of memory"));
  EXPECT_THAT(r.status().message(), HasSubstr("cycler-19"));
  EXPECT_THAT(r.status().message(), HasSubstr("cycler-5 "));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("cycler-4 ")));
  EXPECT_THAT(r.status().message(), HasSubstr("and 5 dropped before them"));
  EXPECT_EQ(Outcome().code(), StatusCode::kUnavailable);
}

// The spec's elastic.max_failed_rounds reaches the scheduler; unset is 3.
TEST(ElasticOptionsForTest, MaxFailedRoundsComesFromTheSpecWithDefaultThree) {
  proto::JobSpec spec;
  spec.mutable_elastic()->set_enabled(true);
  EXPECT_EQ(ElasticOptionsFor(spec).max_failed_rounds, 3);
  spec.mutable_elastic()->set_max_failed_rounds(7);
  EXPECT_EQ(ElasticOptionsFor(spec).max_failed_rounds, 7);
}

TEST_F(ElasticSchedulerTest, BarriersAndBadScalesAreRefused) {
  Start(1, 1, 2);
  auto a = Worker("worker-a");
  auto barrier = a->Barrier("start", Deadline::After(Duration(5000)));
  EXPECT_EQ(barrier.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(barrier.status().message(), HasSubstr("elastic"));
  auto zero = SchedulerClient::Scale(&transport_, scheduler_->address(), 0,
                                     Deadline::After(Duration(5000)));
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("1..2"));
}

// Before the first epoch forms, workers that deregister with an error (here:
// they refused a corrupt checkpoint) end the job at once once too few are
// left to reach min_workers; the clock never moves towards startup_timeout.
TEST_F(ElasticSchedulerTest, WorkersFailingBeforeTheFirstEpochFailTheJobAtOnce) {
  Start(3, 2, 3);
  auto a = Worker("worker-a", 0);
  auto b = Worker("worker-b", 1);
  auto c = Worker("worker-c", 2);
  auto fa = Sync(a.get(), 0);
  // One failed: 2 of 3 can still form an epoch of min_workers=2; no failure.
  EXPECT_TRUE(b->Deregister("checkpoint /ck/step-40 is corrupt: checksum mismatch").ok());
  EXPECT_EQ(fa.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_EQ(run_.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  // The second leaves 1 < 2 possible: the waiting sync fails naming both.
  EXPECT_TRUE(c->Deregister("checkpoint /ck/step-40 is corrupt: bad magic").ok());
  ASSERT_EQ(fa.wait_for(kWait), std::future_status::ready);
  StatusOr<proto::SyncResponse> r = fa.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("before the first membership epoch"));
  EXPECT_THAT(r.status().message(), HasSubstr("worker-b"));
  EXPECT_THAT(r.status().message(), HasSubstr("checksum mismatch"));
  EXPECT_THAT(r.status().message(), HasSubstr("worker-c"));
  EXPECT_THAT(r.status().message(), HasSubstr("bad magic"));
  EXPECT_THAT(r.status().message(), HasSubstr("min_workers=2"));
  clock_.Advance(Duration(1000));  // the drain period after a failure, far below startup_timeout
  ASSERT_EQ(run_.wait_for(kWait), std::future_status::ready);
  Status outcome = run_.get();
  EXPECT_EQ(outcome.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(outcome.message(), HasSubstr("bad magic"));
}

// A worker that deregisters WITHOUT an error before the first epoch is not
// counted as failed (it may be restarted); the job keeps waiting.
TEST_F(ElasticSchedulerTest, ALeaveWithoutAnErrorBeforeTheFirstEpochDoesNotFailTheJob) {
  Start(2, 2, 2);
  auto a = Worker("worker-a", 0);
  auto b = Worker("worker-b", 1);
  auto fa = Sync(a.get(), 0);
  EXPECT_TRUE(b->Deregister("").ok());
  EXPECT_EQ(fa.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  // A replacement with the same rank hint forms the first epoch.
  auto b2 = Worker("worker-b2", 1);
  auto fb = Sync(b2.get(), 0);
  proto::SyncResponse ra = Get(&fa);
  proto::SyncResponse rb = Get(&fb);
  EXPECT_EQ(ra.membership_epoch(), 1);
  EXPECT_THAT(ra.members(), ElementsAre("worker-a", "worker-b2"));
  EXPECT_EQ(rb.rank(), 1);
}

// An initial worker that never reaches the first sync (killed right after it
// registered) does not stop the others: at the startup timeout the first
// epoch forms with the workers waiting, when they are at least min_workers.
TEST_F(ElasticSchedulerTest, AtTheStartupTimeoutTheFirstEpochFormsWithTheWaitingWorkers) {
  Start(3, 2, 3, Duration(800));
  auto a = Worker("worker-a", 0);
  auto b = Worker("worker-b", 1);
  auto c = Worker("worker-c", 2);  // never syncs
  auto fa = Sync(a.get(), 0), fb = Sync(b.get(), 0);
  Handled();  // both wait at the first sync
  EXPECT_EQ(fa.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  clock_.Advance(Duration(900));  // past the startup timeout, within the heartbeat timeout
  proto::SyncResponse ra = Get(&fa);
  proto::SyncResponse rb = Get(&fb);
  EXPECT_EQ(ra.membership_epoch(), 1);
  EXPECT_THAT(ra.members(), ElementsAre("worker-a", "worker-b"));
  EXPECT_EQ(ra.rank(), 0);
  EXPECT_EQ(rb.rank(), 1);
}

// With fewer than min_workers waiting at the startup timeout, the job fails
// naming what is missing.
TEST_F(ElasticSchedulerTest, AtTheStartupTimeoutTooFewWaitingFailsTheJob) {
  Start(3, 2, 3, Duration(800));
  auto a = Worker("worker-a", 0);
  auto fa = Sync(a.get(), 0);
  Handled();  // a waits at the first sync
  clock_.Advance(Duration(900));
  StatusOr<proto::SyncResponse> r = fa.get();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("not every node registered"));
  EXPECT_THAT(r.status().message(), HasSubstr("1 waiting at the first sync"));
}

}  // namespace
}  // namespace iak::scheduler
