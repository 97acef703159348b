#include "worker/pulled_rows.h"

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "model/embedding_pooling.h"
#include "model/embedding_table.h"
#include "worker/pinned_row_source.h"
#include "worker/resolved_rows.h"
#include "worker/row_source.h"

namespace iak::worker {
namespace {

// Field 0 single-valued, field 1 multi-valued (mean), field 2 multi (sum);
// keys repeat across samples; key 999 is absent from the table.
data::Dataset MixedData() {
  data::Dataset d;
  d.fields = {{"a", false, data::Pooling::kSum},
              {"b", true, data::Pooling::kMean},
              {"c", true, data::Pooling::kSum}};
  const std::vector<std::vector<std::vector<uint64_t>>> samples = {
      {{1}, {2, 3}, {}}, {{1}, {3}, {4, 5, 999}}, {{6}, {2, 2, 3}, {5}}, {{999}, {}, {1}}};
  for (const auto& sample : samples) {
    for (const auto& field : sample) {
      d.keys.insert(d.keys.end(), field.begin(), field.end());
      d.offsets.push_back(d.keys.size());
    }
    d.click.push_back(1.0f);
  }
  return d;
}

// Rows of `dim` normal values for keys 1-6 (MixedData's, but 999).
model::EmbeddingTable RandomTable(int dim, uint64_t seed) {
  model::EmbeddingTable table;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> value;
  for (uint64_t key : {1, 2, 3, 4, 5, 6}) {
    for (int j = 0; j < dim; ++j) table[key].push_back(value(rng));
  }
  return table;
}

TEST(PulledRowsTest, CollectsUniqueKeysAndPoolsLikePoolBatch) {
  const int dim = 3;
  model::EmbeddingTable table = RandomTable(dim, 1);
  const data::Dataset data = MixedData();
  const std::vector<uint32_t> ids = {2, 0, 3, 1, 0};
  MemoryRowSource source(table, dim);
  PulledRows rows(dim);
  for (int round = 0; round < 3; ++round) {  // reuse across batches
    rows.CollectKeys(data, ids.data(), static_cast<int>(ids.size()));
    EXPECT_EQ(rows.keys(), std::vector<uint64_t>({6, 2, 3, 5, 1, 999, 4}));
    ASSERT_TRUE(source.Fetch(rows.keys().data(), rows.keys().size(), rows.rows()).ok());
    std::vector<float> got(ids.size() * 3 * dim, -1.0f), want(got.size());
    rows.Pool(data, ids.data(), static_cast<int>(ids.size()), got.data());
    model::PoolBatch(data, ids.data(), static_cast<int>(ids.size()), dim,
                     model::TableLookup(&table), want.data());
    EXPECT_EQ(got, want);
    // The local-table path: keys resolved once, pooled by direct index.
    std::vector<float> direct(got.size(), -1.0f);
    std::unique_ptr<ResolvedRows> resolved = ResolvedRows::Make(&data, &source, dim);
    ASSERT_NE(resolved, nullptr);
    ASSERT_TRUE(resolved->Pool(ids.data(), static_cast<int>(ids.size()), direct.data()).ok());
    EXPECT_EQ(direct, want);
    ASSERT_NE(rows.Find(4), nullptr);
    EXPECT_EQ(rows.Find(4)[0], table[4][0]);
    EXPECT_EQ(rows.Find(77), nullptr);
  }
}

// A source that only fetches (as the servers do): it cannot resolve rows.
// Counts the keys it is asked for, and fails every fetch once `fail` is set.
class FetchOnlySource : public RowSource {
 public:
  explicit FetchOnlySource(RowSource* inner) : inner_(inner) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows) override {
    if (fail) return UnavailableError("the servers are gone");
    ++fetches;
    for (size_t i = 0; i < n; ++i) ++asked[keys[i]];
    return inner_->Fetch(keys, n, rows);
  }

  bool fail = false;
  int fetches = 0;
  std::map<uint64_t, int> asked;

 private:
  RowSource* inner_;
};

// Pools MixedData's samples in batches that repeat samples, resolve some
// anew and reuse others: from `resolved`, the same floats, bit for bit
// (signs of zeros included), as pulling each batch from `per_batch`.
void ExpectPoolsAsPullingEachBatch(const data::Dataset& data, ResolvedRows* resolved,
                                   RowSource* per_batch, int dim) {
  PulledRows scratch(dim);
  for (const std::vector<uint32_t>& ids : std::vector<std::vector<uint32_t>>{
           {2, 0}, {0, 0, 3}, {1, 2, 3, 0}, {3}, {}}) {
    const int n = static_cast<int>(ids.size());
    std::vector<float> pulled(ids.size() * 3 * dim, 7.0f), direct(pulled.size(), 9.0f);
    ASSERT_TRUE(FetchAndPool(data, ids.data(), n, per_batch, &scratch, pulled.data()).ok());
    ASSERT_TRUE(resolved->Pool(ids.data(), n, direct.data()).ok());
    EXPECT_EQ(std::memcmp(pulled.data(), direct.data(), sizeof(float) * pulled.size()), 0);
  }
}

// Resolved once, then pooled batch after batch: the same floats, bit for bit
// (signs of zeros included), as pulling each batch, from either kind of
// local table; a source that cannot resolve gets none.
TEST(ResolvedRowsTest, PoolsBitForBitAsPullingEachBatch) {
  const int dim = 3;
  model::EmbeddingTable table = RandomTable(dim, 2);
  table[4] = {-0.0f, 0.0f, -0.0f};  // a single-valued copy keeps the sign
  table[6] = {-0.0f, -0.0f, 1.0f};
  const data::Dataset data = MixedData();
  MemoryRowSource memory(table, dim);
  const model::TableLookup lookup(&table);
  LookupRowSource local(&lookup, dim);
  FetchOnlySource remote(&memory);
  EXPECT_EQ(ResolvedRows::Make(&data, &remote, dim), nullptr);
  for (RowSource* source : {static_cast<RowSource*>(&memory), static_cast<RowSource*>(&local)}) {
    std::unique_ptr<ResolvedRows> resolved = ResolvedRows::Make(&data, source, dim);
    ASSERT_NE(resolved, nullptr);
    ExpectPoolsAsPullingEachBatch(data, resolved.get(), &remote, dim);
  }
}

// Rows pulled once and kept: pooled bit for bit as pulling each batch, and
// every key of the data asked of the servers once, however many batches
// hold it; a failed pull is the pool's error and keeps nothing.
TEST(PinnedRowSourceTest, PoolsLikePullingEachBatchAndPullsEachKeyOnce) {
  const int dim = 3;
  model::EmbeddingTable table = RandomTable(dim, 3);
  table[4] = {-0.0f, 0.0f, -0.0f};
  const data::Dataset data = MixedData();  // keys 1-6 and the absent 999
  MemoryRowSource memory(table, dim);
  FetchOnlySource servers(&memory);
  std::unique_ptr<PinnedRowSource> pinned =
      PinnedRowSource::Make(data, &servers, dim, uint64_t{1} << 20);
  ASSERT_NE(pinned, nullptr);
  EXPECT_EQ(pinned->num_keys(), 7u);
  std::unique_ptr<ResolvedRows> resolved = ResolvedRows::Make(&data, pinned.get(), dim);
  ASSERT_NE(resolved, nullptr);
  const data::Dataset other = MixedData();  // rows of another data set are not kept
  EXPECT_EQ(ResolvedRows::Make(&other, pinned.get(), dim), nullptr);
  FetchOnlySource per_batch(&memory);
  servers.fail = true;
  std::vector<float> x(2 * 3 * dim);
  const std::vector<uint32_t> first = {2, 0};
  EXPECT_EQ(resolved->Pool(first.data(), 2, x.data()).code(), StatusCode::kUnavailable);
  EXPECT_EQ(pinned->num_fetched(), 0u);
  servers.fail = false;
  ExpectPoolsAsPullingEachBatch(data, resolved.get(), &per_batch, dim);
  EXPECT_EQ(pinned->num_fetched(), 7u);
  EXPECT_EQ(servers.fetches, 3);  // the batches that held a sample not seen before
  for (const auto& [key, times] : servers.asked) EXPECT_EQ(times, 1) << "key " << key;
  EXPECT_EQ(servers.asked.size(), 7u);
  // Fetch: kept keys from the kept rows, others (77) from the servers.
  const std::vector<uint64_t> keys = {5, 77, 1};
  std::vector<float> rows(keys.size() * dim, 5.0f), want(rows.size(), 6.0f);
  ASSERT_TRUE(pinned->Fetch(keys.data(), keys.size(), rows.data()).ok());
  ASSERT_TRUE(memory.Fetch(keys.data(), keys.size(), want.data()).ok());
  EXPECT_EQ(rows, want);
  EXPECT_EQ(servers.asked[77], 1);
  EXPECT_EQ(servers.asked[5], 1);
  // Resolving a key the data lacks is refused, naming it.
  const float* row = nullptr;
  const Status refused = pinned->ResolveRows(&keys[1], 1, &row);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("77"), std::string::npos) << refused;
}

// The missing-key guard counts per key occurrence with rows kept: the pulls
// count the keys they fetch, the monitor the reads of kept rows past those
// (a zero row as missing), and the limit fails the pool that passes it.
TEST(PinnedRowSourceTest, TheGuardCountsEveryOccurrence) {
  const int dim = 3;
  model::EmbeddingTable table;
  for (uint64_t key : {1, 2, 3, 4, 5, 6}) table[key] = {0.5f, -1.0f, static_cast<float>(key)};
  const data::Dataset data = MixedData();  // 15 occurrences of 7 keys; 999 (twice) is absent
  MemoryRowSource memory(table, dim);
  FetchOnlySource servers(&memory);
  const std::vector<uint32_t> all = {0, 1, 2, 3};
  std::vector<float> x(all.size() * 3 * dim);
  {
    PullMonitor monitor;
    std::unique_ptr<PinnedRowSource> pinned =
        PinnedRowSource::Make(data, &servers, dim, uint64_t{1} << 20, &monitor);
    std::unique_ptr<ResolvedRows> resolved = ResolvedRows::Make(&data, pinned.get(), dim);
    ASSERT_TRUE(resolved->Pool(all.data(), 4, x.data()).ok());
    EXPECT_EQ(monitor.kept_reads.load(), 15u - 7u);  // the 7 fetched are the pull's to count
    EXPECT_EQ(monitor.kept_reads_missing.load(), 1u);  // 999's second occurrence
  }
  PullMonitor strict;
  strict.SetMissingKeyLimit(0.05, 1);
  std::unique_ptr<PinnedRowSource> pinned =
      PinnedRowSource::Make(data, &servers, dim, uint64_t{1} << 20, &strict);
  std::unique_ptr<ResolvedRows> resolved = ResolvedRows::Make(&data, pinned.get(), dim);
  const Status failed = resolved->Pool(all.data(), 4, x.data());
  EXPECT_EQ(failed.code(), StatusCode::kFailedPrecondition) << failed;
  EXPECT_NE(failed.message().find("max_missing_key_rate"), std::string::npos) << failed;
}

// Past the budget (the distinct keys' rows and index, or a copy of every
// key occurrence) there is nothing to keep: the caller pulls per batch.
TEST(PinnedRowSourceTest, RefusesDataPastItsBudget) {
  const int dim = 3;
  const data::Dataset data = MixedData();
  model::EmbeddingTable table;
  MemoryRowSource memory(table, dim);
  FetchOnlySource servers(&memory);
  const uint64_t need = PinnedRowSource::BytesFor(7, dim);
  EXPECT_NE(PinnedRowSource::Make(data, &servers, dim, need), nullptr);
  EXPECT_EQ(PinnedRowSource::Make(data, &servers, dim, need - 1), nullptr);
  EXPECT_EQ(PinnedRowSource::Make(data::Dataset(), &servers, dim, need), nullptr);
  EXPECT_EQ(servers.fetches, 0);
}

TEST(PulledRowsTest, ManyBatchesOfDifferentSizes) {
  // Grows the table and wraps through generations without stale hits.
  data::Dataset d;
  d.fields = {{"a", false, data::Pooling::kSum}};
  for (uint64_t k = 0; k < 5000; ++k) {
    d.keys.push_back(k % 1700);
    d.offsets.push_back(d.keys.size());
    d.click.push_back(0.0f);
  }
  PulledRows rows(1);
  std::vector<uint32_t> ids;
  for (uint32_t n : {3u, 5000u, 17u, 1700u, 1u}) {
    ids.resize(n);
    for (uint32_t i = 0; i < n; ++i) ids[i] = i;
    rows.CollectKeys(d, ids.data(), static_cast<int>(n));
    EXPECT_EQ(rows.keys().size(), std::min<size_t>(n, 1700)) << n;
  }
}

}  // namespace
}  // namespace iak::worker
