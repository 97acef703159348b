// Trainable parameter servers (threads over the in-process transport): pushes
// update rows exactly as a per-row Adagrad / Adam computed here would, pulls
// see the updates, frozen servers refuse pushes and keep serving, bad pushes
// are refused without applying anything, and the trained snapshot the servers
// write at the end loads, verifies and holds the trained rows.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "common/keys.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_tools.h"
#include "embedding/trained_snapshot.h"
#include "net/inproc_transport.h"
#include "net/rpc.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "ps/trainable_options.h"
#include "tests/embedding/test_model_dir.h"
#include "tests/testing/ps_server_thread.h"

namespace iak::ps {
namespace {

using embedding::RowDtype;
using embedding::testing::AbsentKeys;
using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 8;

// The reference: per-row Adagrad / Adam as documented in
// ps/sparse_row_optimizer.h, written out independently.
class ReferenceOptimizer {
 public:
  ReferenceOptimizer(RowOptimizerOptions options, Table start)
      : options_(options), start_(std::move(start)) {}

  void Push(const std::vector<uint64_t>& keys, const std::vector<float>& grads) {
    std::vector<uint64_t> order;
    std::map<uint64_t, std::vector<float>> summed;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto [it, inserted] = summed.emplace(keys[i], std::vector<float>(kDim, 0.0f));
      if (inserted) {
        order.push_back(keys[i]);
        for (int d = 0; d < kDim; ++d) it->second[d] = grads[i * kDim + d];
      } else {
        for (int d = 0; d < kDim; ++d) it->second[d] += grads[i * kDim + d];
      }
    }
    for (uint64_t key : order) Step(key, summed[key]);
  }

  std::vector<float> Row(uint64_t key) const {
    auto it = rows_.find(key);
    if (it != rows_.end()) return it->second.w;
    auto base = start_.find(key);
    return base == start_.end() ? std::vector<float>(kDim, 0.0f) : base->second;
  }
  const std::map<uint64_t, std::vector<float>> Trained() const {
    std::map<uint64_t, std::vector<float>> out;
    for (const auto& [key, row] : rows_) out[key] = row.w;
    return out;
  }

 private:
  struct RowState {
    std::vector<float> w, a, b;
    int t = 0;
  };
  void Step(uint64_t key, const std::vector<float>& g) {
    auto it = rows_.find(key);
    if (it == rows_.end()) {
      RowState fresh;
      fresh.w = Row(key);
      fresh.a.assign(kDim, 0.0f);
      fresh.b.assign(kDim, 0.0f);
      it = rows_.emplace(key, fresh).first;
    }
    RowState& r = it->second;
    const float lr = options_.learning_rate, eps = options_.epsilon;
    if (options_.kind == RowOptimizerKind::kAdagrad) {
      for (int d = 0; d < kDim; ++d) {
        r.a[d] = r.a[d] + g[d] * g[d];
        r.w[d] = r.w[d] - lr * g[d] / (std::sqrt(r.a[d]) + eps);
      }
      return;
    }
    ++r.t;
    const float b1 = options_.beta1, b2 = options_.beta2;
    const float c1 = 1.0f - std::pow(b1, static_cast<float>(r.t));
    const float c2 = 1.0f - std::pow(b2, static_cast<float>(r.t));
    for (int d = 0; d < kDim; ++d) {
      r.a[d] = b1 * r.a[d] + (1.0f - b1) * g[d];
      r.b[d] = b2 * r.b[d] + (1.0f - b2) * g[d] * g[d];
      r.w[d] = r.w[d] - lr * (r.a[d] / c1) / (std::sqrt(r.b[d] / c2) + eps);
    }
  }

  RowOptimizerOptions options_;
  Table start_;
  std::map<uint64_t, RowState> rows_;
};

class TrainablePsTest : public ::testing::Test {
 protected:
  void Write(int num_shards, RowDtype dtype) {
    table_ = RandomTable(/*seed=*/11, /*num_keys=*/300, kDim);
    embedding::SnapshotContents contents = ContentsOf(table_, kDim, num_shards);
    contents.options.dtype = dtype;
    model_dir_ = tmp_.Sub("model");
    Status written = embedding::WriteModelDirectory(model_dir_, contents);
    ASSERT_TRUE(written.ok()) << written;
    num_shards_ = num_shards;
  }

  // A trainable server when `trainable` is set (writing to out_dir_), else frozen.
  void StartServer(int shard, std::optional<RowOptimizerOptions> trainable, int replica = 0) {
    auto t = std::make_unique<testing_util::PsServerThread>();
    PsServerOptions options;
    options.model_dir = model_dir_;
    options.shard = shard;
    options.replica = replica;
    options.name = "ps-" + std::to_string(shard) + "-r" + std::to_string(replica);
    options.listen_address = "inproc://" + options.name;
    if (trainable) {
      options.trainable.enabled = true;
      options.trainable.optimizer = *trainable;
      options.trainable.output_model_dir = out_dir_;
    }
    Status started = t->Start(options, &transport_);
    ASSERT_TRUE(started.ok()) << started;
    addresses_.push_back(t->address());
    servers_.push_back(std::move(t));
  }

  PsClientOptions ClientOptions() const {
    PsClientOptions options;
    options.servers = addresses_;
    options.snapshot_id = servers_[0]->server()->snapshot_id();
    options.dim = kDim;
    options.pull_timeout = Duration(5000);
    options.push_timeout = Duration(5000);
    options.name = "worker-0";
    return options;
  }

  // A client that sends hand-made requests to server 0.
  std::unique_ptr<net::RpcClient> RawClient() {
    StatusOr<std::unique_ptr<net::Connection>> connection =
        transport_.Connect(servers_[0]->server()->address());
    EXPECT_TRUE(connection.ok()) << connection.status();
    if (!connection.ok()) return nullptr;
    return std::make_unique<net::RpcClient>(std::move(connection).value(), "raw-worker");
  }

  // A vector's bytes, as a push frame carries them.
  template <typename T>
  static std::string FrameOf(const std::vector<T>& values) {
    return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }

  std::vector<uint64_t> TableKeys(size_t n) const {
    std::vector<uint64_t> keys;
    for (const auto& [key, row] : table_) {
      keys.push_back(key);
      if (keys.size() == n) break;
    }
    return keys;
  }

  // A push: `n` keys drawn from `pool` (so with duplicates), random gradients.
  void RandomPush(std::mt19937_64* rng, const std::vector<uint64_t>& pool, size_t n,
                  std::vector<uint64_t>* keys, std::vector<float>* grads) {
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    std::normal_distribution<float> value(0.0f, 0.5f);
    keys->clear();
    grads->clear();
    for (size_t i = 0; i < n; ++i) keys->push_back(pool[pick(*rng)]);
    for (size_t i = 0; i < n * kDim; ++i) grads->push_back(value(*rng));
  }

  void ExpectRows(PsClient* client, const std::vector<uint64_t>& keys,
                  const ReferenceOptimizer& reference) {
    std::vector<float> rows(keys.size() * kDim);
    Status pulled = client->Pull(keys.data(), keys.size(), rows.data(), nullptr);
    ASSERT_TRUE(pulled.ok()) << pulled;
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::vector<float> want = reference.Row(keys[i]);
      for (int d = 0; d < kDim; ++d) {
        ASSERT_FLOAT_EQ(rows[i * kDim + d], want[d]) << "key " << keys[i] << " value " << d;
      }
    }
  }

  void RunOptimizerTest(RowOptimizerKind kind, int num_shards, RowDtype dtype) {
    Write(num_shards, dtype);
    out_dir_ = tmp_.Sub("trained");
    RowOptimizerOptions optimizer;
    optimizer.kind = kind;
    optimizer.learning_rate = 0.05f;
    for (int s = 0; s < num_shards; ++s) StartServer(s, optimizer);
    PsClient client(ClientOptions(), &transport_);
    ASSERT_TRUE(client.Connect().ok());

    // The starting rows are what the servers serve (decoded for fp16).
    std::vector<uint64_t> pool = TableKeys(40);
    const std::vector<uint64_t> absent = AbsentKeys(table_, /*seed=*/3, 10);
    pool.insert(pool.end(), absent.begin(), absent.end());
    std::vector<float> start_rows(pool.size() * kDim);
    PullStats before;
    ASSERT_TRUE(client.Pull(pool.data(), pool.size(), start_rows.data(), &before).ok());
    EXPECT_EQ(before.missing, absent.size());
    Table start;
    for (size_t i = 0; i < pool.size(); ++i) {
      start[pool[i]].assign(start_rows.begin() + i * kDim, start_rows.begin() + (i + 1) * kDim);
    }
    ReferenceOptimizer reference(optimizer, start);

    std::mt19937_64 rng(7);
    std::vector<uint64_t> keys;
    std::vector<float> grads;
    for (int push = 0; push < 5; ++push) {
      RandomPush(&rng, pool, /*n=*/60, &keys, &grads);
      PushStats stats;
      Status pushed = client.Push(keys.data(), keys.size(), grads.data(), &stats);
      ASSERT_TRUE(pushed.ok()) << pushed;
      reference.Push(keys, grads);
      EXPECT_EQ(stats.keys, 60u);
      EXPECT_EQ(stats.applied, std::set<uint64_t>(keys.begin(), keys.end()).size());
      ExpectRows(&client, pool, reference);
    }
    // Every absent key was pushed at some point (50 of 50 picks x 5): none missing now.
    PullStats after;
    std::vector<float> rows(pool.size() * kDim);
    ASSERT_TRUE(client.Pull(pool.data(), pool.size(), rows.data(), &after).ok());
    size_t absent_untouched = 0;
    const auto trained = reference.Trained();
    for (uint64_t key : absent) absent_untouched += trained.count(key) == 0;
    EXPECT_EQ(after.missing, absent_untouched);
    uint64_t pushes = 0;
    for (const auto& t : servers_) pushes += t->server()->pushes_applied();
    EXPECT_EQ(pushes, 5u * num_shards);
  }

  TempDir tmp_;
  Table table_;
  std::string model_dir_;
  std::string out_dir_;
  int num_shards_ = 0;
  net::InProcTransport transport_;
  std::vector<proto::ServerAddress> addresses_;
  std::vector<std::unique_ptr<testing_util::PsServerThread>> servers_;
};

TEST_F(TrainablePsTest, AdagradUpdatesMatchTheReferenceOverTwoShards) {
  RunOptimizerTest(RowOptimizerKind::kAdagrad, /*num_shards=*/2, RowDtype::kFloat32);
}

TEST_F(TrainablePsTest, AdamUpdatesMatchTheReferenceOnAFloat16Snapshot) {
  RunOptimizerTest(RowOptimizerKind::kAdam, /*num_shards=*/1, RowDtype::kFloat16);
}

TEST_F(TrainablePsTest, FrozenServerRefusesPushesAndKeepsServing) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, std::nullopt);
  PsClient client(ClientOptions(), &transport_);
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<uint64_t> keys = TableKeys(20);
  std::vector<float> grads(keys.size() * kDim, 1.0f);
  Status pushed = client.Push(keys.data(), keys.size(), grads.data());
  ASSERT_EQ(pushed.code(), StatusCode::kFailedPrecondition) << pushed;
  EXPECT_NE(pushed.message().find("ps-0-r0 serves a frozen snapshot; pushes are refused"),
            std::string::npos)
      << pushed;
  EXPECT_NE(pushed.message().find("set trainable {...} in the job spec"), std::string::npos);
  EXPECT_EQ(servers_[0]->server()->requests_refused(), 1u);
  // Still serving the unchanged rows.
  std::vector<float> rows(keys.size() * kDim);
  ASSERT_TRUE(client.Pull(keys.data(), keys.size(), rows.data(), nullptr).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(std::vector<float>(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim),
              table_.at(keys[i]));
  }
  Status done = servers_[0]->server()->WriteTrainedSnapshot(tmp_.Sub("nowhere"));
  EXPECT_EQ(done.code(), StatusCode::kFailedPrecondition) << done;
}

TEST_F(TrainablePsTest, BadPushesAreRefusedAndApplyNothing) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, RowOptimizerOptions());
  const std::vector<uint64_t> keys = TableKeys(10);
  std::vector<float> grads(keys.size() * kDim, 0.5f);

  // Another snapshot id.
  PsClientOptions wrong = ClientOptions();
  wrong.snapshot_id = "0123456789abcdef";
  PsClient stale(wrong, &transport_);
  ASSERT_TRUE(stale.Connect().ok());
  Status pushed = stale.Push(keys.data(), keys.size(), grads.data());
  ASSERT_EQ(pushed.code(), StatusCode::kFailedPrecondition) << pushed;
  EXPECT_NE(pushed.message().find("expects snapshot 0123456789abcdef"), std::string::npos)
      << pushed;

  // A gradient that is not finite: the whole push is refused.
  PsClient client(ClientOptions(), &transport_);
  ASSERT_TRUE(client.Connect().ok());
  std::vector<float> poisoned = grads;
  poisoned[5 * kDim + 3] = std::numeric_limits<float>::quiet_NaN();
  pushed = client.Push(keys.data(), keys.size(), poisoned.data());
  ASSERT_EQ(pushed.code(), StatusCode::kInvalidArgument) << pushed;
  EXPECT_NE(pushed.message().find("key " + std::to_string(keys[5])), std::string::npos) << pushed;

  // Truncated and missing frames, sent raw.
  std::unique_ptr<net::RpcClient> raw_client = RawClient();
  ASSERT_NE(raw_client, nullptr);
  net::RpcClient& raw = *raw_client;
  proto::Envelope request;
  request.mutable_push_request()->set_num_keys(keys.size());
  const std::string key_frame = FrameOf(keys);
  const std::string grad_frame = FrameOf(grads);
  StatusOr<net::RpcReply> reply =
      raw.Call(request, {key_frame, grad_frame.substr(0, grad_frame.size() - 3)},
               Deadline::After(Duration(5000)));
  ASSERT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();
  EXPECT_NE(reply.status().message().find("'raw-worker' announces 10 keys"), std::string::npos)
      << reply.status();
  EXPECT_NE(reply.status().message().find("nothing was applied"), std::string::npos);
  reply = raw.Call(request, {key_frame}, Deadline::After(Duration(5000)));
  ASSERT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();
  EXPECT_NE(reply.status().message().find("expected 2 (keys, gradients)"), std::string::npos);
  reply = raw.Call(request, {key_frame.substr(1), grad_frame}, Deadline::After(Duration(5000)));
  ASSERT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();

  // Nothing was applied: rows unchanged, no push counted.
  EXPECT_EQ(servers_[0]->server()->pushes_applied(), 0u);
  std::vector<float> rows(keys.size() * kDim);
  ASSERT_TRUE(client.Pull(keys.data(), keys.size(), rows.data(), nullptr).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(std::vector<float>(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim),
              table_.at(keys[i]));
  }
  // And a good push still works afterwards.
  ASSERT_TRUE(client.Push(keys.data(), keys.size(), grads.data()).ok());
  EXPECT_EQ(servers_[0]->server()->pushes_applied(), 1u);
}

// A key of another shard would make a row that the trained snapshot refuses
// at the end, losing the shard's whole training: the push is refused first.
TEST_F(TrainablePsTest, APushWithAKeyOfAnotherShardIsRefused) {
  Write(/*num_shards=*/2, RowDtype::kFloat32);
  StartServer(0, RowOptimizerOptions());
  std::vector<uint64_t> keys;  // one key of shard 0, then one of shard 1
  for (uint64_t key = 1; keys.size() < 2; ++key) {
    if (ShardOfKey(key, 2) == static_cast<int>(keys.size())) keys.push_back(key);
  }
  const std::vector<float> grads(keys.size() * kDim, 0.5f);
  std::unique_ptr<net::RpcClient> raw = RawClient();
  ASSERT_NE(raw, nullptr);
  proto::Envelope request;
  request.mutable_push_request()->set_num_keys(keys.size());
  request.mutable_push_request()->set_snapshot_id(servers_[0]->server()->snapshot_id());
  const std::string key_frame = FrameOf(keys);
  const std::string grad_frame = FrameOf(grads);
  StatusOr<net::RpcReply> reply =
      raw->Call(request, {key_frame, grad_frame}, Deadline::After(Duration(5000)));
  ASSERT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();
  EXPECT_NE(reply.status().message().find("key " + std::to_string(keys[1]) + " of shard 1"),
            std::string::npos)
      << reply.status();
  EXPECT_EQ(servers_[0]->server()->pushes_applied(), 0u);

  // The shard's own key alone is applied.
  request.mutable_push_request()->set_num_keys(1);
  reply = raw->Call(request, {key_frame.substr(0, 8), grad_frame.substr(0, kDim * 4)},
                    Deadline::After(Duration(5000)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(servers_[0]->server()->pushes_applied(), 1u);
}

TEST_F(TrainablePsTest, PushNeedsOneServerPerShardAndNoRowCache) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, RowOptimizerOptions(), /*replica=*/0);
  StartServer(0, RowOptimizerOptions(), /*replica=*/1);
  PsClient client(ClientOptions(), &transport_);
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<uint64_t> keys = TableKeys(4);
  std::vector<float> grads(keys.size() * kDim, 0.1f);
  Status pushed = client.Push(keys.data(), keys.size(), grads.data());
  ASSERT_EQ(pushed.code(), StatusCode::kFailedPrecondition) << pushed;
  EXPECT_NE(pushed.message().find("exactly one server per shard"), std::string::npos) << pushed;

  PsClientOptions cached = ClientOptions();
  cached.servers.resize(1);
  cached.cache_bytes = 1 << 20;
  PsClient with_cache(cached, &transport_);
  ASSERT_TRUE(with_cache.Connect().ok());
  pushed = with_cache.Push(keys.data(), keys.size(), grads.data());
  ASSERT_EQ(pushed.code(), StatusCode::kFailedPrecondition) << pushed;
  EXPECT_NE(pushed.message().find("row cache"), std::string::npos) << pushed;
  for (const auto& t : servers_) EXPECT_EQ(t->server()->pushes_applied(), 0u);
}

TEST_F(TrainablePsTest, TrainedSnapshotLoadsVerifiesAndHoldsTheTrainedRows) {
  Write(/*num_shards=*/2, RowDtype::kFloat32);
  out_dir_ = tmp_.Sub("trained");
  RowOptimizerOptions optimizer;
  optimizer.kind = RowOptimizerKind::kAdam;
  for (int s = 0; s < 2; ++s) StartServer(s, optimizer);
  PsClient client(ClientOptions(), &transport_);
  ASSERT_TRUE(client.Connect().ok());
  std::vector<uint64_t> pool = TableKeys(30);
  const std::vector<uint64_t> absent = AbsentKeys(table_, /*seed=*/9, 6);
  pool.insert(pool.end(), absent.begin(), absent.end());
  ReferenceOptimizer reference(optimizer, table_);
  std::mt19937_64 rng(13);
  std::vector<uint64_t> keys;
  std::vector<float> grads;
  for (int push = 0; push < 4; ++push) {
    RandomPush(&rng, pool, /*n=*/40, &keys, &grads);
    ASSERT_TRUE(client.Push(keys.data(), keys.size(), grads.data()).ok());
    reference.Push(keys, grads);
  }
  // Stopping the servers writes the trained snapshot: shard 0 first, then
  // shard 1, whose server completes the manifest.
  servers_[0]->Stop();
  ASSERT_TRUE(servers_[0]->ran().ok()) << servers_[0]->ran();
  StatusOr<std::vector<int>> missing = embedding::MissingTrainedShards(out_dir_);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(*missing, std::vector<int>{1});
  StatusOr<proto::ModelManifest> early = embedding::FinalizeTrainedSnapshot(out_dir_);
  ASSERT_EQ(early.status().code(), StatusCode::kFailedPrecondition) << early.status();
  EXPECT_NE(early.status().message().find("shard(s) 1 of 2"), std::string::npos);
  servers_[1]->Stop();
  ASSERT_TRUE(servers_[1]->ran().ok()) << servers_[1]->ran();

  StatusOr<embedding::SnapshotVerification> verified = embedding::VerifySnapshot(out_dir_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << verified->FirstError();
  StatusOr<embedding::ModelDirectory> model = embedding::LoadModelDirectory(out_dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  StatusOr<embedding::ModelDirectory> source = embedding::LoadModelDirectory(model_dir_);
  ASSERT_TRUE(source.ok());
  EXPECT_NE(model->manifest.snapshot_id(), source->manifest.snapshot_id());
  EXPECT_EQ(model->dense_blob, source->dense_blob);
  EXPECT_EQ(model->manifest.num_tasks(), source->manifest.num_tasks());
  EXPECT_EQ(model->manifest.row_dtype(), "float32");
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(table.ok()) << table.status();
  const auto trained = reference.Trained();
  size_t created = 0;
  for (const auto& [key, row] : trained) created += table_.count(key) == 0;
  EXPECT_GT(created, 0u);
  EXPECT_EQ((*table)->num_rows(), table_.size() + created);
  for (const auto& [key, row] : table_) {
    const float* got = (*table)->Find(key);
    ASSERT_NE(got, nullptr) << key;
    const std::vector<float> want = reference.Row(key);
    for (int d = 0; d < kDim; ++d) ASSERT_FLOAT_EQ(got[d], want[d]) << "key " << key;
  }
  for (const auto& [key, row] : trained) {
    const float* got = (*table)->Find(key);
    ASSERT_NE(got, nullptr) << key;
    for (int d = 0; d < kDim; ++d) ASSERT_FLOAT_EQ(got[d], row[d]) << "key " << key;
  }
  // A new server serves the trained model.
  PsServerOptions options;
  options.model_dir = out_dir_;
  options.listen_address = "inproc://ps-trained";
  PsServer reloaded(options, &transport_);
  Status started = reloaded.Start();
  EXPECT_TRUE(started.ok()) << started;
  EXPECT_EQ(reloaded.snapshot_id(), model->manifest.snapshot_id());

  // A second run into the same directory is refused at Start().
  PsServerOptions again;
  again.model_dir = model_dir_;
  again.listen_address = "inproc://ps-again";
  again.trainable.enabled = true;
  again.trainable.output_model_dir = out_dir_;
  PsServer second(again, &transport_);
  Status refused = second.Start();
  EXPECT_EQ(refused.code(), StatusCode::kAlreadyExists) << refused;
}

TEST_F(TrainablePsTest, APushToADeadServerFailsNamingTheShard) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, RowOptimizerOptions());
  PsClientOptions options = ClientOptions();
  options.push_timeout = Duration(100);
  PsClient client(options, &transport_);
  ASSERT_TRUE(client.Connect().ok());
  servers_[0]->Stop();
  const std::vector<uint64_t> keys = TableKeys(4);
  std::vector<float> grads(keys.size() * kDim, 0.1f);
  Status pushed = client.Push(keys.data(), keys.size(), grads.data());
  ASSERT_FALSE(pushed.ok());
  EXPECT_TRUE(pushed.code() == StatusCode::kDeadlineExceeded ||
              pushed.code() == StatusCode::kUnavailable)
      << pushed;
  EXPECT_NE(pushed.message().find("push of 4 keys to shard 0"), std::string::npos) << pushed;
}

// Distributed pre-training in miniature: an empty table, two workers pushing
// disjoint keys at the same time to two trainable shards; every row is
// created, trained only by its worker's pushes (so deterministically), and
// lands in the trained snapshot.
TEST_F(TrainablePsTest, PreTrainingFromAnEmptyTableWithTwoWorkers) {
  table_.clear();
  std::vector<uint64_t> no_keys;
  std::vector<float> no_values;
  embedding::SnapshotContents contents = ContentsOf(table_, kDim, 2);
  contents.table = nullptr;
  contents.keys = &no_keys;
  contents.values = &no_values;
  model_dir_ = tmp_.Sub("empty");
  Status written = embedding::WriteModelDirectory(model_dir_, contents);
  ASSERT_TRUE(written.ok()) << written;
  out_dir_ = tmp_.Sub("pretrained");
  RowOptimizerOptions optimizer;  // adagrad
  StartServer(0, optimizer);
  StartServer(1, optimizer);

  constexpr int kWorkers = 2;
  constexpr int kPushes = 6;
  std::vector<std::vector<uint64_t>> worker_keys(kWorkers);
  std::vector<std::vector<std::vector<float>>> worker_grads(kWorkers);
  std::mt19937_64 rng(17);
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (int w = 0; w < kWorkers; ++w) {
    for (int k = 0; k < 25; ++k) worker_keys[w].push_back(1000 * (w + 1) + k);
    for (int p = 0; p < kPushes; ++p) {
      std::vector<float> g(worker_keys[w].size() * kDim);
      for (float& x : g) x = value(rng);
      worker_grads[w].push_back(std::move(g));
    }
  }
  std::vector<Status> results(kWorkers);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      PsClientOptions options = ClientOptions();
      options.name = "worker-" + std::to_string(w);
      PsClient client(options, &transport_);
      results[w] = client.Connect();
      for (int p = 0; p < kPushes && results[w].ok(); ++p) {
        results[w] = client.Push(worker_keys[w].data(), worker_keys[w].size(),
                                 worker_grads[w][p].data());
      }
    });
  }
  for (std::thread& t : workers) t.join();
  for (const Status& r : results) ASSERT_TRUE(r.ok()) << r;
  ReferenceOptimizer reference(optimizer, Table());
  for (int w = 0; w < kWorkers; ++w) {
    for (int p = 0; p < kPushes; ++p) reference.Push(worker_keys[w], worker_grads[w][p]);
  }
  for (auto& t : servers_) {
    t->Stop();
    ASSERT_TRUE(t->ran().ok()) << t->ran();
  }
  StatusOr<embedding::SnapshotVerification> verified = embedding::VerifySnapshot(out_dir_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << verified->FirstError();
  StatusOr<embedding::ModelDirectory> model = embedding::LoadModelDirectory(out_dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->num_rows(), 50u);
  for (const auto& [key, row] : reference.Trained()) {
    const float* got = (*table)->Find(key);
    ASSERT_NE(got, nullptr) << key;
    for (int d = 0; d < kDim; ++d) ASSERT_FLOAT_EQ(got[d], row[d]) << "key " << key;
  }
}

TEST(SparseRowOptimizerTest, UnknownOptimizerNameIsRefused) {
  EXPECT_EQ(*ParseRowOptimizer(""), RowOptimizerKind::kAdagrad);
  EXPECT_EQ(*ParseRowOptimizer("adam"), RowOptimizerKind::kAdam);
  StatusOr<RowOptimizerKind> bad = ParseRowOptimizer("sgd");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"adagrad\" or \"adam\""), std::string::npos);
}

}  // namespace
}  // namespace iak::ps

namespace iak::ps {
namespace {

TEST(ResolveTrainableOptionsTest, SpecFlagsAndDefaults) {
  // Neither: frozen.
  StatusOr<TrainableOptions> frozen = ResolveTrainableOptions(nullptr, TrainableOverrides());
  ASSERT_TRUE(frozen.ok());
  EXPECT_FALSE(frozen->enabled);
  proto::JobSpec spec;
  spec.set_name("job");
  spec.set_output_dir("/out");
  frozen = ResolveTrainableOptions(&spec, TrainableOverrides());
  ASSERT_TRUE(frozen.ok());
  EXPECT_FALSE(frozen->enabled);

  // The spec's block, defaults filled in.
  spec.mutable_trainable();
  StatusOr<TrainableOptions> from_spec = ResolveTrainableOptions(&spec, TrainableOverrides());
  ASSERT_TRUE(from_spec.ok()) << from_spec.status();
  EXPECT_TRUE(from_spec->enabled);
  EXPECT_EQ(from_spec->optimizer.kind, RowOptimizerKind::kAdagrad);
  EXPECT_FLOAT_EQ(from_spec->optimizer.learning_rate, 0.02f);
  EXPECT_EQ(from_spec->output_model_dir, "/out/trained-model");
  spec.mutable_trainable()->set_optimizer("adam");
  spec.mutable_trainable()->set_learning_rate(0.5f);
  spec.mutable_trainable()->set_output_model_dir("/trained");
  from_spec = ResolveTrainableOptions(&spec, TrainableOverrides());
  ASSERT_TRUE(from_spec.ok());
  EXPECT_EQ(from_spec->optimizer.kind, RowOptimizerKind::kAdam);
  EXPECT_FLOAT_EQ(from_spec->optimizer.learning_rate, 0.5f);
  EXPECT_EQ(from_spec->output_model_dir, "/trained");

  // Flags win.
  TrainableOverrides flags;
  flags.optimizer = "adagrad";
  flags.learning_rate = 0.1;
  flags.output_model_dir = "/elsewhere";
  StatusOr<TrainableOptions> overridden = ResolveTrainableOptions(&spec, flags);
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ(overridden->optimizer.kind, RowOptimizerKind::kAdagrad);
  EXPECT_FLOAT_EQ(overridden->optimizer.learning_rate, 0.1f);
  EXPECT_EQ(overridden->output_model_dir, "/elsewhere");

  // Refusals, each with its reason.
  flags.learning_rate = -1;
  EXPECT_EQ(ResolveTrainableOptions(&spec, flags).status().code(), StatusCode::kInvalidArgument);
  TrainableOverrides only_optimizer;
  only_optimizer.optimizer = "adam";
  Status nowhere = ResolveTrainableOptions(nullptr, only_optimizer).status();
  EXPECT_NE(nowhere.message().find("--trainable_output"), std::string::npos) << nowhere;
  spec.set_replicas_per_shard(2);
  Status replicated = ResolveTrainableOptions(&spec, TrainableOverrides()).status();
  ASSERT_EQ(replicated.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(replicated.message().find("replicas_per_shard is 2"), std::string::npos) << replicated;
}

}  // namespace
}  // namespace iak::ps
