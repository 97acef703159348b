// Overlay snapshots of trainable parameter servers (docs/trainable_ps.md,
// "Keeping the best rows"): a restore brings back the saved rows *and* their
// optimizer state, so training after it is exactly training that never saw
// the discarded pushes; the trained snapshot written after a restore holds
// the restored rows; frozen servers refuse; PsTrainableRows sends from rank 0
// only. Servers run as threads over the in-process transport; one test runs
// over real ZeroMQ on loopback.
//
// The check of "the same as never having pushed" is a twin: a second set of
// servers on the same model gets only the pushes the first one kept, and the
// two must agree bit for bit (same float32 operations in the same order).
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "embedding/model_directory.h"
#include "net/inproc_transport.h"
#include "net/zmq_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "tests/embedding/test_model_dir.h"
#include "tests/testing/ps_server_thread.h"
#include "worker/trainable_rows.h"

namespace iak::ps {
namespace {

using embedding::testing::AbsentKeys;
using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 8;

// One push: keys (with duplicates, some absent from the snapshot) and
// gradients drawn from (seed).
struct Push {
  std::vector<uint64_t> keys;
  std::vector<float> grads;
};

Push MakePush(uint64_t seed, const std::vector<uint64_t>& pool, size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  std::normal_distribution<float> value(0.0f, 0.5f);
  Push push;
  for (size_t i = 0; i < n; ++i) push.keys.push_back(pool[pick(rng)]);
  for (size_t i = 0; i < n * kDim; ++i) push.grads.push_back(value(rng));
  return push;
}

size_t Distinct(const std::vector<uint64_t>& keys) {
  return std::set<uint64_t>(keys.begin(), keys.end()).size();
}

// A set of servers (one per shard) of one model, with a client.
class Cluster {
 public:
  Cluster(std::string name, net::Transport* transport) : name_(std::move(name)),
                                                         transport_(transport) {}

  // Trainable (writing to out_dir, which may be empty) unless `optimizer` is null.
  void Start(const std::string& model_dir, int num_shards, const RowOptimizerOptions* optimizer,
             const std::string& out_dir, const std::string& listen_prefix) {
    for (int s = 0; s < num_shards; ++s) {
      auto t = std::make_unique<testing_util::PsServerThread>();
      PsServerOptions options;
      options.model_dir = model_dir;
      options.shard = s;
      options.name = name_ + "-ps-" + std::to_string(s);
      options.listen_address = listen_prefix + (listen_prefix.rfind("inproc", 0) == 0
                                                    ? options.name
                                                    : std::string());
      if (optimizer != nullptr) {
        options.trainable.enabled = true;
        options.trainable.optimizer = *optimizer;
        options.trainable.output_model_dir = out_dir;
      }
      Status started = t->Start(options, transport_);
      ASSERT_TRUE(started.ok()) << started;
      addresses_.push_back(t->address());
      servers_.push_back(std::move(t));
    }
    client_ = std::make_unique<PsClient>(ClientOptions(), transport_);
    Status connected = client_->Connect();
    ASSERT_TRUE(connected.ok()) << connected;
  }

  PsClientOptions ClientOptions() const {
    PsClientOptions options;
    options.servers = addresses_;
    options.snapshot_id = servers_[0]->server()->snapshot_id();
    options.dim = kDim;
    options.pull_timeout = Duration(5000);
    options.push_timeout = Duration(5000);
    options.name = name_ + "-worker";
    return options;
  }

  void Apply(const Push& push) {
    Status pushed = client_->Push(push.keys.data(), push.keys.size(), push.grads.data());
    ASSERT_TRUE(pushed.ok()) << pushed;
  }

  std::vector<float> Rows(const std::vector<uint64_t>& keys, uint64_t* missing = nullptr) {
    std::vector<float> rows(keys.size() * kDim);
    PullStats stats;
    Status pulled = client_->Pull(keys.data(), keys.size(), rows.data(), &stats);
    EXPECT_TRUE(pulled.ok()) << pulled;
    if (missing != nullptr) *missing = stats.missing;
    return rows;
  }

  void StopAll() {
    for (auto& t : servers_) {
      t->Stop();
      ASSERT_TRUE(t->ran().ok()) << t->ran();
    }
  }

  PsClient* client() { return client_.get(); }
  PsServer* server(int s) { return servers_[s]->server(); }

 private:
  std::string name_;
  net::Transport* transport_;
  std::vector<proto::ServerAddress> addresses_;
  std::vector<std::unique_ptr<testing_util::PsServerThread>> servers_;
  std::unique_ptr<PsClient> client_;
};

class OverlaySnapshotTest : public ::testing::Test {
 protected:
  void Write(int num_shards) {
    table_ = RandomTable(/*seed=*/23, /*num_keys=*/200, kDim);
    embedding::SnapshotContents contents = ContentsOf(table_, kDim, num_shards);
    contents.options.dtype = embedding::RowDtype::kFloat32;
    model_dir_ = tmp_.Sub("model");
    Status written = embedding::WriteModelDirectory(model_dir_, contents);
    ASSERT_TRUE(written.ok()) << written;
    pool_.clear();
    for (const auto& [key, row] : table_) {
      pool_.push_back(key);
      if (pool_.size() == 30) break;
    }
    absent_ = AbsentKeys(table_, /*seed=*/5, 8);
  }

  // Pool keys plus keys absent from the snapshot.
  std::vector<uint64_t> WithAbsent() const {
    std::vector<uint64_t> keys = pool_;
    keys.insert(keys.end(), absent_.begin(), absent_.end());
    return keys;
  }

  std::unique_ptr<embedding::LocalEmbeddingTable> OpenTrained(const std::string& dir) {
    StatusOr<embedding::ModelDirectory> model = embedding::LoadModelDirectory(dir);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return nullptr;
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(*model);
    EXPECT_TRUE(table.ok()) << table.status();
    return table.ok() ? std::move(table).value() : nullptr;
  }

  TempDir tmp_;
  Table table_;
  std::string model_dir_;
  std::vector<uint64_t> pool_;
  std::vector<uint64_t> absent_;
  net::InProcTransport transport_;
};

TEST_F(OverlaySnapshotTest, RestoreBringsBackTheRowsAndTheOptimizerState) {
  Write(/*num_shards=*/2);
  RowOptimizerOptions adam;
  adam.kind = RowOptimizerKind::kAdam;  // per-row t, m, v: state a restore must bring back
  adam.learning_rate = 0.05f;
  Cluster trained("a", &transport_);
  Cluster twin("b", &transport_);
  trained.Start(model_dir_, 2, &adam, "", "inproc://");
  twin.Start(model_dir_, 2, &adam, "", "inproc://");
  const std::vector<uint64_t> keys = WithAbsent();

  const Push p1 = MakePush(1, pool_, 50);
  trained.Apply(p1);
  twin.Apply(p1);
  OverlayStats saved;
  Status snapped = trained.client()->SnapshotOverlay("best-1", &saved);
  ASSERT_TRUE(snapped.ok()) << snapped;
  EXPECT_EQ(saved.requests, 2);
  EXPECT_EQ(saved.rows, Distinct(p1.keys));
  EXPECT_GT(saved.bytes, 0u);
  const std::vector<float> at_snapshot = trained.Rows(keys);

  // Pushes after the snapshot, some creating rows the snapshot lacked.
  const Push p2 = MakePush(2, keys, 80);
  trained.Apply(p2);
  trained.Apply(MakePush(3, keys, 40));
  EXPECT_NE(trained.Rows(keys), at_snapshot);

  OverlayStats restored;
  Status back = trained.client()->RestoreOverlay("best-1", &restored);
  ASSERT_TRUE(back.ok()) << back;
  EXPECT_EQ(restored.requests, 2);
  EXPECT_EQ(restored.rows, Distinct(p1.keys));
  EXPECT_GT(restored.rows_discarded, 0u);  // p2 hit absent keys p1 never touched
  uint64_t missing = 0;
  EXPECT_EQ(trained.Rows(keys, &missing), at_snapshot);
  EXPECT_EQ(missing, absent_.size());  // the rows p2 created are gone again
  EXPECT_EQ(trained.server(0)->overlay_snapshots(), 1u);
  EXPECT_EQ(trained.server(1)->overlay_restores(), 1u);

  // Training continues from the snapshot's optimizer state: as the twin,
  // which never saw p2 and p3, bit for bit.
  const Push p4 = MakePush(4, keys, 60);
  trained.Apply(p4);
  twin.Apply(p4);
  EXPECT_EQ(trained.Rows(keys), twin.Rows(keys));

  // The copy is kept: a second restore returns to it again.
  ASSERT_TRUE(trained.client()->RestoreOverlay("best-1").ok());
  EXPECT_EQ(trained.Rows(keys), at_snapshot);
}

TEST_F(OverlaySnapshotTest, TheTrainedSnapshotAfterARestoreHoldsTheRestoredRows) {
  Write(/*num_shards=*/2);
  RowOptimizerOptions adagrad;
  const std::string out_a = tmp_.Sub("trained-a");
  const std::string out_b = tmp_.Sub("trained-b");
  Cluster trained("a", &transport_);
  Cluster twin("b", &transport_);
  trained.Start(model_dir_, 2, &adagrad, out_a, "inproc://");
  twin.Start(model_dir_, 2, &adagrad, out_b, "inproc://");
  const std::vector<uint64_t> keys = WithAbsent();
  const Push p1 = MakePush(11, keys, 50);
  trained.Apply(p1);
  twin.Apply(p1);
  ASSERT_TRUE(trained.client()->SnapshotOverlay("best-1").ok());
  trained.Apply(MakePush(12, keys, 70));
  ASSERT_TRUE(trained.client()->RestoreOverlay("").ok());  // no tag: whatever was saved
  const std::vector<float> restored = trained.Rows(keys);
  trained.StopAll();
  twin.StopAll();

  std::unique_ptr<embedding::LocalEmbeddingTable> a = OpenTrained(out_a);
  std::unique_ptr<embedding::LocalEmbeddingTable> b = OpenTrained(out_b);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->num_rows(), b->num_rows());
  for (size_t i = 0; i < keys.size(); ++i) {
    const float* row = a->Find(keys[i]);
    if (row == nullptr) {  // absent and untouched by p1: no row, as a pull's zero row
      EXPECT_EQ(b->Find(keys[i]), nullptr) << keys[i];
      for (int d = 0; d < kDim; ++d) EXPECT_EQ(restored[i * kDim + d], 0.0f);
      continue;
    }
    EXPECT_EQ(std::vector<float>(row, row + kDim),
              std::vector<float>(restored.begin() + i * kDim, restored.begin() + (i + 1) * kDim))
        << "key " << keys[i];
  }
  for (const auto& [key, unused] : table_) {
    const float* x = a->Find(key);
    const float* y = b->Find(key);
    ASSERT_NE(x, nullptr);
    ASSERT_NE(y, nullptr);
    ASSERT_EQ(std::vector<float>(x, x + kDim), std::vector<float>(y, y + kDim)) << key;
  }
  // Same rows, same pushes kept: the same trained snapshot.
  StatusOr<embedding::ModelDirectory> ma = embedding::LoadModelDirectory(out_a);
  StatusOr<embedding::ModelDirectory> mb = embedding::LoadModelDirectory(out_b);
  ASSERT_TRUE(ma.ok() && mb.ok());
  EXPECT_EQ(ma->manifest.snapshot_id(), mb->manifest.snapshot_id());
}

TEST_F(OverlaySnapshotTest, ASnapshotBeforeAnyPushRestoresTheSourceRows) {
  Write(/*num_shards=*/1);
  Cluster trained("a", &transport_);
  RowOptimizerOptions adagrad;
  trained.Start(model_dir_, 1, &adagrad, "", "inproc://");
  OverlayStats saved;
  Status snapped = trained.client()->SnapshotOverlay("base", &saved);
  ASSERT_TRUE(snapped.ok()) << snapped;
  EXPECT_EQ(saved.rows, 0u);
  const std::vector<uint64_t> keys = WithAbsent();
  const std::vector<float> source = trained.Rows(keys);
  trained.Apply(MakePush(21, keys, 60));
  EXPECT_NE(trained.Rows(keys), source);
  OverlayStats restored;
  ASSERT_TRUE(trained.client()->RestoreOverlay("base", &restored).ok());
  EXPECT_EQ(restored.rows, 0u);
  EXPECT_EQ(restored.rows_discarded, Distinct(MakePush(21, keys, 60).keys));
  uint64_t missing = 0;
  EXPECT_EQ(trained.Rows(keys, &missing), source);
  EXPECT_EQ(missing, absent_.size());
}

TEST_F(OverlaySnapshotTest, RestoreWithoutASnapshotOrOfAnotherTagIsRefusedAndChangesNothing) {
  Write(/*num_shards=*/1);
  Cluster trained("a", &transport_);
  RowOptimizerOptions adagrad;
  trained.Start(model_dir_, 1, &adagrad, "", "inproc://");
  trained.Apply(MakePush(31, pool_, 20));
  const std::vector<float> before = trained.Rows(pool_);
  Status none = trained.client()->RestoreOverlay("best-1");
  ASSERT_EQ(none.code(), StatusCode::kFailedPrecondition) << none;
  EXPECT_NE(none.message().find("no overlay snapshot to restore"), std::string::npos) << none;
  EXPECT_NE(none.message().find("shard 0"), std::string::npos) << none;
  ASSERT_TRUE(trained.client()->SnapshotOverlay("best-1").ok());
  trained.Apply(MakePush(32, pool_, 20));
  const std::vector<float> after = trained.Rows(pool_);
  Status other = trained.client()->RestoreOverlay("best-7");
  ASSERT_EQ(other.code(), StatusCode::kFailedPrecondition) << other;
  EXPECT_NE(other.message().find("'best-1', not the 'best-7'"), std::string::npos) << other;
  EXPECT_EQ(trained.Rows(pool_), after);
  EXPECT_NE(after, before);
  // Another snapshot id: refused before anything changes.
  PsClientOptions wrong = trained.ClientOptions();
  wrong.snapshot_id = "0123456789abcdef";
  PsClient stale(wrong, &transport_);
  ASSERT_TRUE(stale.Connect().ok());
  Status refused = stale.RestoreOverlay("best-1");
  ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("expects snapshot 0123456789abcdef"), std::string::npos);
  EXPECT_EQ(trained.Rows(pool_), after);
}

TEST_F(OverlaySnapshotTest, FrozenServerRefusesSnapshotsAndRestoresAndKeepsServing) {
  Write(/*num_shards=*/1);
  Cluster frozen("f", &transport_);
  frozen.Start(model_dir_, 1, nullptr, "", "inproc://");
  Status snapped = frozen.client()->SnapshotOverlay("best-1");
  ASSERT_EQ(snapped.code(), StatusCode::kFailedPrecondition) << snapped;
  EXPECT_NE(snapped.message().find("f-ps-0 serves a frozen snapshot; an overlay snapshot"),
            std::string::npos)
      << snapped;
  EXPECT_NE(snapped.message().find("set trainable {...}"), std::string::npos) << snapped;
  Status restored = frozen.client()->RestoreOverlay("best-1");
  ASSERT_EQ(restored.code(), StatusCode::kFailedPrecondition) << restored;
  EXPECT_NE(restored.message().find("an overlay restore"), std::string::npos) << restored;
  EXPECT_EQ(frozen.server(0)->requests_refused(), 2u);
  const std::vector<float> rows = frozen.Rows(pool_);
  for (size_t i = 0; i < pool_.size(); ++i) {
    EXPECT_EQ(std::vector<float>(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim),
              table_.at(pool_[i]));
  }
}

TEST_F(OverlaySnapshotTest, ReplicasAndARowCacheAreRefusedBeforeAnythingIsSent) {
  Write(/*num_shards=*/1);
  Cluster trained("a", &transport_);
  RowOptimizerOptions adagrad;
  trained.Start(model_dir_, 1, &adagrad, "", "inproc://");
  PsClientOptions cached = trained.ClientOptions();
  cached.cache_bytes = 1 << 20;
  PsClient with_cache(cached, &transport_);
  ASSERT_TRUE(with_cache.Connect().ok());
  Status refused = with_cache.SnapshotOverlay("x");
  ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("row cache"), std::string::npos) << refused;
  PsClientOptions replicated = trained.ClientOptions();
  replicated.servers.push_back(replicated.servers[0]);
  replicated.servers.back().set_replica(1);
  PsClient with_replicas(replicated, &transport_);
  ASSERT_TRUE(with_replicas.Connect().ok());
  refused = with_replicas.RestoreOverlay("x");
  ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("exactly one server per shard"), std::string::npos);
  EXPECT_EQ(trained.server(0)->overlay_snapshots(), 0u);
  EXPECT_EQ(trained.server(0)->requests_refused(), 0u);
}

// PsTrainableRows: every rank calls Snapshot()/RollBack(), only rank 0's
// calls reach the servers, so one validation point is one snapshot.
TEST_F(OverlaySnapshotTest, PsTrainableRowsSnapshotsAndRollsBackFromRankZeroOnly) {
  Write(/*num_shards=*/2);
  Cluster trained("a", &transport_);
  RowOptimizerOptions adagrad;
  trained.Start(model_dir_, 2, &adagrad, "", "inproc://");
  PsClient other_client(trained.ClientOptions(), &transport_);
  ASSERT_TRUE(other_client.Connect().ok());
  worker::PsTrainableRows rank0(trained.client(), /*rank=*/0);
  worker::PsTrainableRows rank1(&other_client, /*rank=*/1);

  Status early = rank0.RollBack();
  EXPECT_EQ(early.code(), StatusCode::kFailedPrecondition) << early;
  const std::vector<uint64_t> keys = WithAbsent();
  const Push p1 = MakePush(41, keys, 40);
  ASSERT_TRUE(rank0.Push(p1.keys.data(), p1.keys.size(), p1.grads.data(), nullptr).ok());
  ASSERT_TRUE(rank1.Push(p1.keys.data(), p1.keys.size(), p1.grads.data(), nullptr).ok());
  ASSERT_TRUE(rank0.Snapshot().ok());
  ASSERT_TRUE(rank1.Snapshot().ok());
  for (int s = 0; s < 2; ++s) EXPECT_EQ(trained.server(s)->overlay_snapshots(), 1u);
  std::vector<float> best(keys.size() * kDim);
  ASSERT_TRUE(rank1.Fetch(keys.data(), keys.size(), best.data()).ok());

  const Push p2 = MakePush(42, keys, 40);
  ASSERT_TRUE(rank1.Push(p2.keys.data(), p2.keys.size(), p2.grads.data(), nullptr).ok());
  ASSERT_TRUE(rank1.RollBack().ok());
  for (int s = 0; s < 2; ++s) EXPECT_EQ(trained.server(s)->overlay_restores(), 0u);
  ASSERT_TRUE(rank0.RollBack().ok());
  for (int s = 0; s < 2; ++s) EXPECT_EQ(trained.server(s)->overlay_restores(), 1u);
  std::vector<float> rows(keys.size() * kDim);
  ASSERT_TRUE(rank1.Fetch(keys.data(), keys.size(), rows.data()).ok());
  EXPECT_EQ(rows, best);
}

// The same requests over real ZeroMQ on loopback: two shards.
TEST(OverlaySnapshotZmqTest, SnapshotAndRestoreOverLoopback) {
  TempDir tmp;
  const Table table = RandomTable(/*seed=*/29, /*num_keys=*/100, kDim);
  embedding::SnapshotContents contents = ContentsOf(table, kDim, 2);
  contents.options.dtype = embedding::RowDtype::kFloat32;
  const std::string model_dir = tmp.Sub("model");
  ASSERT_TRUE(embedding::WriteModelDirectory(model_dir, contents).ok());
  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table) keys.push_back(key);
  net::ZmqTransport transport;
  Cluster trained("z", &transport);
  RowOptimizerOptions adam;
  adam.kind = RowOptimizerKind::kAdam;
  trained.Start(model_dir, 2, &adam, "", "tcp://127.0.0.1:0");
  trained.Apply(MakePush(51, keys, 64));
  ASSERT_TRUE(trained.client()->SnapshotOverlay("best-1").ok());
  const std::vector<float> best = trained.Rows(keys);
  trained.Apply(MakePush(52, keys, 64));
  EXPECT_NE(trained.Rows(keys), best);
  OverlayStats stats;
  Status restored = trained.client()->RestoreOverlay("best-1", &stats);
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_EQ(stats.requests, 2);
  EXPECT_EQ(trained.Rows(keys), best);
}

}  // namespace
}  // namespace iak::ps
