// Checkpoint files: exact round trip (adapter params, a real Adam's state,
// cursors, phase, step, epoch); truncated and corrupt files refused naming
// the file, with LoadLatest() falling back to the previous good one; only
// the newest K kept.
#include "worker/checkpoint.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "model/adam.h"
#include "proto/checkpoint.pb.h"

namespace iak::worker {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/iak_checkpoint_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  // A checkpoint whose every field depends on `step`, with real Adam state.
  Checkpoint Make(int32_t phase, int64_t step) {
    Checkpoint c;
    c.job_name = "ml-25m";
    c.membership_epoch = 3 + step;
    c.phase_index = phase;
    c.step = step;
    std::mt19937 rng(static_cast<uint32_t>(step * 31 + phase));
    std::normal_distribution<float> normal(0.f, 1.f);
    for (const char* domain : {"2004-2007", "2008-2011", "2012-2015"}) {
      DomainCheckpoint d;
      d.domain = domain;
      d.params.resize(517);
      for (float& p : d.params) p = normal(rng);
      model::Adam adam(d.params.size(), model::AdamOptions());
      std::vector<float> grads(d.params.size());
      for (int s = 0; s < 3; ++s) {
        for (float& g : grads) g = normal(rng);
        adam.Step(d.params.data(), grads.data());
      }
      d.adam_state = adam.Serialize();
      d.cursor.epoch = step / 10;
      d.cursor.position = static_cast<size_t>(step * 256 + 7);
      c.domains.push_back(std::move(d));
    }
    return c;
  }

  static void ExpectEqual(const Checkpoint& a, const Checkpoint& b) {
    EXPECT_EQ(a.job_name, b.job_name);
    EXPECT_EQ(a.membership_epoch, b.membership_epoch);
    EXPECT_EQ(a.phase_index, b.phase_index);
    EXPECT_EQ(a.step, b.step);
    ASSERT_EQ(a.domains.size(), b.domains.size());
    for (size_t i = 0; i < a.domains.size(); ++i) {
      const DomainCheckpoint& x = a.domains[i];
      const DomainCheckpoint& y = b.domains[i];
      EXPECT_EQ(x.domain, y.domain);
      ASSERT_EQ(x.params.size(), y.params.size());
      // Bit-exact, not approximately equal.
      EXPECT_EQ(std::memcmp(x.params.data(), y.params.data(), x.params.size() * sizeof(float)),
                0);
      EXPECT_EQ(x.adam_state, y.adam_state);
      EXPECT_EQ(x.cursor.epoch, y.cursor.epoch);
      EXPECT_EQ(x.cursor.position, y.cursor.position);
    }
  }

  std::string dir_;
};

TEST_F(CheckpointTest, RoundTripIsExactAndAdamResumesIdentically) {
  const Checkpoint written = Make(1, 42);
  const std::string path = dir_ + "/one.iakckpt";
  ASSERT_TRUE(WriteCheckpointFile(path, written).ok());
  StatusOr<Checkpoint> read = ReadCheckpointFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectEqual(written, *read);

  // The restored Adam takes the very same next step as the original.
  const DomainCheckpoint& d = written.domains[0];
  model::Adam original(d.params.size(), model::AdamOptions());
  ASSERT_TRUE(original.Deserialize(d.adam_state).ok());
  model::Adam restored(d.params.size(), model::AdamOptions());
  ASSERT_TRUE(restored.Deserialize(read->domains[0].adam_state).ok());
  std::vector<float> p1 = d.params, p2 = read->domains[0].params;
  std::vector<float> grads(p1.size(), 0.25f);
  original.Step(p1.data(), grads.data());
  restored.Step(p2.data(), grads.data());
  EXPECT_EQ(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)), 0);
  EXPECT_EQ(restored.step(), 4);
  // No temporary file is left behind.
  StatusOr<std::vector<std::string>> none = CheckpointStore({dir_, 3}).List();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(CheckpointTest, EmptyCheckpointRoundTrips) {
  Checkpoint empty;
  ASSERT_TRUE(WriteCheckpointFile(dir_ + "/e.iakckpt", empty).ok());
  StatusOr<Checkpoint> read = ReadCheckpointFile(dir_ + "/e.iakckpt");
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectEqual(empty, *read);
}

TEST_F(CheckpointTest, TruncatedFileIsRefusedNamingItAndThePreviousOneIsUsed) {
  CheckpointStore store({dir_, 3});
  ASSERT_TRUE(store.Save(Make(0, 100)).ok());
  StatusOr<std::string> newest = store.Save(Make(0, 200));
  ASSERT_TRUE(newest.ok()) << newest.status();
  const std::string full = ReadAll(*newest);
  for (size_t keep : {full.size() - 1, full.size() / 2, size_t{20}, size_t{5}, size_t{0}}) {
    WriteAll(*newest, full.substr(0, keep));
    StatusOr<Checkpoint> direct = ReadCheckpointFile(*newest);
    ASSERT_FALSE(direct.ok()) << keep;
    EXPECT_EQ(direct.status().code(), StatusCode::kDataLoss) << direct.status();
    EXPECT_NE(direct.status().message().find(*newest), std::string::npos) << direct.status();
    EXPECT_NE(direct.status().message().find("truncated"), std::string::npos)
        << keep << ": " << direct.status();

    StatusOr<LoadedCheckpoint> loaded = store.LoadLatest();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->path, store.PathFor(0, 100));
    ExpectEqual(Make(0, 100), loaded->checkpoint);
    ASSERT_EQ(loaded->refused.size(), 1u);
    EXPECT_EQ(loaded->refused[0].first, *newest);
  }
}

TEST_F(CheckpointTest, CorruptByteAnywhereIsRefusedAndThePreviousOneIsUsed) {
  CheckpointStore store({dir_, 3});
  ASSERT_TRUE(store.Save(Make(1, 5)).ok());
  StatusOr<std::string> newest = store.Save(Make(1, 6));
  ASSERT_TRUE(newest.ok()) << newest.status();
  const std::string full = ReadAll(*newest);
  // The magic, the header length, the header, the body, the checksum.
  for (size_t at : {size_t{2}, size_t{9}, size_t{20}, full.size() / 2, full.size() - 2}) {
    std::string bad = full;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    WriteAll(*newest, bad);
    StatusOr<Checkpoint> direct = ReadCheckpointFile(*newest);
    ASSERT_FALSE(direct.ok()) << "flipped byte " << at;
    EXPECT_EQ(direct.status().code(), StatusCode::kDataLoss) << direct.status();
    EXPECT_NE(direct.status().message().find(*newest), std::string::npos) << direct.status();

    StatusOr<LoadedCheckpoint> loaded = store.LoadLatest();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ExpectEqual(Make(1, 5), loaded->checkpoint);
  }
  // A body byte specifically fails the checksum, and says so.
  std::string bad = full;
  bad[full.size() / 2] ^= 0x01;
  WriteAll(*newest, bad);
  EXPECT_NE(ReadCheckpointFile(*newest).status().message().find("checksum"), std::string::npos);
}

// A file whose checksum is right but whose header lies about the sizes (CRC
// is no defence against a crafted file): a domain's Adam bytes so large that
// they wrap around with its parameters' must not pass the bounds check.
TEST_F(CheckpointTest, SizesThatWrapAroundAreRefused) {
  Checkpoint one;
  DomainCheckpoint d;
  d.domain = "2004-2007";
  d.params = {0.5f};
  d.adam_state = "abcd";
  one.domains.push_back(d);
  const std::string path = dir_ + "/w.iakckpt";
  ASSERT_TRUE(WriteCheckpointFile(path, one).ok());
  const std::string full = ReadAll(path);
  constexpr size_t kPrefix = 16;  // magic + header length
  uint64_t header_len = 0;
  std::memcpy(&header_len, full.data() + 8, 8);
  proto::CheckpointHeader header;
  ASSERT_TRUE(header.ParseFromArray(full.data() + kPrefix, static_cast<int>(header_len)));
  const std::string body = full.substr(kPrefix + header_len, header.body_bytes());

  auto rewrite = [&](const proto::CheckpointHeader& lying) {
    const std::string bytes = lying.SerializeAsString();
    std::string file = full.substr(0, 8);
    const uint64_t len = bytes.size();
    file.append(reinterpret_cast<const char*>(&len), 8);
    file += bytes + body;
    const uint32_t crc = Crc32c(file.data(), file.size());
    file.append(reinterpret_cast<const char*>(&crc), 4);
    WriteAll(path, file);
  };
  proto::CheckpointHeader lying = header;
  lying.mutable_domains(0)->set_adam_bytes(~uint64_t{0} - 3);  // 4 + this wraps to 0
  rewrite(lying);
  StatusOr<Checkpoint> read = ReadCheckpointFile(path);
  ASSERT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status();
  EXPECT_NE(read.status().message().find("claims more bytes than the body holds"),
            std::string::npos)
      << read.status();

  lying = header;
  lying.mutable_domains(0)->set_num_params(uint64_t{1} << 62);  // x 4 wraps to 0
  rewrite(lying);
  read = ReadCheckpointFile(path);
  ASSERT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status();

  lying = header;
  lying.set_body_bytes(~uint64_t{0});
  rewrite(lying);
  read = ReadCheckpointFile(path);
  ASSERT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status();
  EXPECT_NE(read.status().message().find("truncated"), std::string::npos) << read.status();

  rewrite(header);  // the same file, honest again, reads back
  read = ReadCheckpointFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectEqual(one, *read);
}

TEST_F(CheckpointTest, NoIntactCheckpointIsDataLossListingEveryFile) {
  CheckpointStore store({dir_, 3});
  StatusOr<std::string> a = store.Save(Make(0, 1));
  StatusOr<std::string> b = store.Save(Make(0, 2));
  ASSERT_TRUE(a.ok() && b.ok());
  WriteAll(*a, "garbage");
  WriteAll(*b, ReadAll(*b).substr(0, 100));
  StatusOr<LoadedCheckpoint> loaded = store.LoadLatest();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(*a), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find(*b), std::string::npos) << loaded.status();
}

TEST_F(CheckpointTest, EmptyDirectoryIsNotFound) {
  CheckpointStore store({dir_ + "/never-written", 3});
  EXPECT_EQ(store.LoadLatest().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadCheckpointFile(dir_ + "/absent.iakckpt").status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointTest, KeepsOnlyTheLastKOrderedByPhaseThenStep) {
  CheckpointStore store({dir_ + "/ckpts", 2});
  // Phase 1 step 3 is newer than phase 0 step 1000.
  const std::vector<std::pair<int32_t, int64_t>> saves = {{0, 10}, {0, 20}, {0, 1000}, {1, 3},
                                                          {1, 9}};
  for (const auto& [phase, step] : saves) ASSERT_TRUE(store.Save(Make(phase, step)).ok());
  StatusOr<std::vector<std::string>> files = store.List();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(*files, std::vector<std::string>({store.PathFor(1, 3), store.PathFor(1, 9)}));
  StatusOr<LoadedCheckpoint> loaded = store.LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectEqual(Make(1, 9), loaded->checkpoint);
  EXPECT_TRUE(loaded->refused.empty());
}

TEST(Crc32cTest, KnownValue) {
  // The standard check value of CRC-32C.
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
}

}  // namespace
}  // namespace iak::worker
