#include "model/standard_normals.h"

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/iak_module.h"
#include "model/mersenne_twister.h"

namespace iak::model {
namespace {

// n draws of one std::normal_distribution<float>(0, 1): the reference.
std::vector<float> StandardDraws(std::mt19937_64* rng, size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> out(n);
  for (float& v : out) v = normal(*rng);
  return out;
}

// Bit for bit (0.0f == -0.0f would hide a sign, NaN != NaN a match).
void ExpectSameBits(const std::vector<float>& expected, const std::vector<float>& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  size_t differing = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::memcmp(&expected[i], &actual[i], sizeof(float)) != 0 && ++differing <= 5) {
      ADD_FAILURE() << "draw " << i << ": expected " << expected[i] << ", got " << actual[i];
    }
  }
  EXPECT_EQ(differing, 0u);
}

TEST(Mt19937_64Test, SameStreamAsTheStandardEngineFromAnIntegerSeed) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{5489}, ~uint64_t{0}}) {
    std::mt19937_64 expected(seed);
    Mt19937_64 actual(seed);
    for (int i = 0; i < 10000; ++i) ASSERT_EQ(expected(), actual()) << "seed " << seed << " draw " << i;
  }
}

TEST(Mt19937_64Test, SameStreamAsTheStandardEngineFromASeedSequence) {
  // The pipeline seeds each batch with (seed low, seed high, index low, index high).
  for (uint32_t index = 0; index < 20; ++index) {
    std::seed_seq a{7u, 0u, index, 0u};
    std::seed_seq b{7u, 0u, index, 0u};
    std::mt19937_64 expected(a);
    Mt19937_64 actual(b);
    // Generate in uneven pieces across refreshes, and single draws between.
    std::vector<uint64_t> got(1000);
    for (size_t taken = 0; taken < 20000; taken += 1001) {
      actual.Generate(got.data(), got.size());
      for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(expected(), got[i]) << "index " << index;
      ASSERT_EQ(expected(), actual());
    }
  }
}

TEST(StandardNormalsTest, EqualsTheStandardDistributionOnMillionsOfDraws) {
  // 300,000 draws of seed 102 include a 64-bit draw that rounds to 2^64 as a
  // float (draw 275,721: the uniform is then kept below 1).
  for (uint64_t seed : {uint64_t{102}, uint64_t{7}}) {
    const size_t n = seed == 102 ? 300000 : 2000000;
    std::mt19937_64 reference(seed);
    const std::vector<float> expected = StandardDraws(&reference, n);
    const uint64_t next = reference();  // the draw after the n normals
    std::mt19937_64 standard_engine(seed);
    std::vector<float> actual(n);
    DrawStandardNormals(&standard_engine, n, actual.data());
    ExpectSameBits(expected, actual);
    EXPECT_EQ(next, standard_engine()) << "the engine advanced differently";
    Mt19937_64 fast_engine(seed);
    std::fill(actual.begin(), actual.end(), 0.0f);
    DrawStandardNormals(&fast_engine, n, actual.data());
    ExpectSameBits(expected, actual);
    EXPECT_EQ(next, fast_engine());
  }
  std::mt19937_64 scan(102);
  bool rounds_to_one = false;
  for (int i = 0; i < 300000; ++i) rounds_to_one |= static_cast<float>(scan()) * 0x1p-64f >= 1.0f;
  EXPECT_TRUE(rounds_to_one) << "the seed no longer covers the uniform's clamp below 1";
}

TEST(StandardNormalsTest, EveryCountDrawsWhatAFreshDistributionDraws) {
  // Odd counts drop the last pair's second value, as a distribution that
  // goes out of scope does; the engine must end where the standard's does.
  std::mt19937_64 reference(3);
  Mt19937_64 fast(3);
  for (size_t n : {0, 1, 2, 3, 5, 255, 256, 511, 512, 513, 1023, 32768}) {
    const std::vector<float> expected = StandardDraws(&reference, n);
    std::vector<float> actual(n);
    DrawStandardNormals(&fast, n, actual.data());
    ExpectSameBits(expected, actual);
    ASSERT_EQ(reference(), fast()) << "after " << n << " draws";
  }
}

TEST(StandardNormalsTest, DrawEpsIsTheSameNoiseWithEitherEngine) {
  std::seed_seq a{1u, 2u, 3u, 4u};
  std::seed_seq b{1u, 2u, 3u, 4u};
  std::mt19937_64 standard(a);
  Mt19937_64 fast(b);
  std::vector<float> expected(1024 * 32), actual(1024 * 32);
  IakModule::DrawEps(1024, 32, &standard, expected.data());
  IakModule::DrawEps(1024, 32, &fast, actual.data());
  ExpectSameBits(expected, actual);
}

}  // namespace
}  // namespace iak::model
