#include "worker/domain_plan.h"

#include <cmath>

#include <gtest/gtest.h>

namespace iak::worker {
namespace {

DomainPlanOptions Options() {
  DomainPlanOptions o;
  o.base_batch = 256;
  o.min_batch = 32;
  o.min_train_samples = 200;
  o.min_validation_positives = 10;
  return o;
}

// Warm: 10000, 2500, 400 (median 2500). Cold: 150 and 100 (250 together,
// 17 validation positives) -> one shared adapter.
TEST(DomainPlanTest, DynamicBatchAndLrFollowTheSquareRootRule) {
  StatusOr<DomainPlan> plan = PlanDomains({{"a", 10000, 100},
                                           {"b", 2500, 50},
                                           {"c", 400, 20},
                                           {"d", 150, 5},
                                           {"e", 100, 12}},
                                          Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const auto& d = plan->domains;
  ASSERT_EQ(d.size(), 5u);
  // a: 256 * sqrt(4) = 512 -> clamped to 256.
  EXPECT_EQ(d[0].mode, DomainMode::kOwnAdapter);
  EXPECT_EQ(d[0].batch_size, 256);
  EXPECT_DOUBLE_EQ(d[0].lr_scale, 1.0);
  EXPECT_EQ(d[1].batch_size, 256);
  // c: round(256 * sqrt(400 / 2500)) = round(102.4) = 102.
  EXPECT_EQ(d[2].batch_size, 102);
  EXPECT_DOUBLE_EQ(d[2].lr_scale, std::sqrt(102.0 / 256.0));
  // Shared: round(256 * sqrt(250 / 2500)) = round(80.95) = 81; lr sqrt(81/256) = 9/16.
  EXPECT_EQ(plan->shared_batch_size, 81);
  EXPECT_DOUBLE_EQ(plan->shared_lr_scale, 0.5625);
  EXPECT_EQ(plan->shared_train_samples, 250);
  for (int i : {3, 4}) {
    EXPECT_EQ(d[i].mode, DomainMode::kSharedAdapter) << i;
    EXPECT_EQ(d[i].batch_size, 81);
  }
  EXPECT_EQ(d[3].reason.rfind("150 training samples < 200: shared adapter", 0), 0u)
      << d[3].reason;
  EXPECT_STREQ(DomainModeName(d[4].mode), "shared");
}

TEST(DomainPlanTest, TooSmallEvenTogetherFallsBackToTheBaseModel) {
  StatusOr<DomainPlan> plan =
      PlanDomains({{"big", 5000, 80}, {"mid", 1000, 30}, {"tiny", 37, 2}}, Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const DomainPlanEntry& tiny = plan->domains[2];
  EXPECT_EQ(tiny.mode, DomainMode::kBaseModel);
  EXPECT_EQ(tiny.batch_size, 0);
  EXPECT_EQ(plan->shared_batch_size, 0);
  EXPECT_EQ(tiny.reason.rfind("37 training samples < 200: base model", 0), 0u) << tiny.reason;
  // Median of the warm domains (5000, 1000) = 3000: mid gets
  // round(256 * sqrt(1000 / 3000)) = round(147.80) = 148.
  EXPECT_EQ(plan->domains[0].batch_size, 256);
  EXPECT_EQ(plan->domains[1].batch_size, 148);
}

TEST(DomainPlanTest, TooFewValidationPositivesIsColdAndTheFloorHolds) {
  StatusOr<DomainPlan> plan =
      PlanDomains({{"big", 100000, 500}, {"big2", 100000, 500}, {"small", 300, 40},
                   {"noisy", 5000, 3}},
                  Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Median of 100000, 100000, 300 = 100000: small -> 256 * sqrt(0.003) = 14.0 -> floor 32.
  EXPECT_EQ(plan->domains[2].batch_size, 32);
  EXPECT_DOUBLE_EQ(plan->domains[2].lr_scale, std::sqrt(32.0 / 256.0));
  // noisy alone: 5000 samples but 3 validation positives, too few even pooled.
  EXPECT_EQ(plan->domains[3].mode, DomainMode::kBaseModel);
  EXPECT_EQ(plan->domains[3].reason.rfind("3 validation positives < 10: base model", 0), 0u)
      << plan->domains[3].reason;
}

TEST(DomainPlanTest, FixedModeKeepsTheBaseBatchButStillFallsBack) {
  DomainPlanOptions o = Options();
  o.dynamic = false;
  StatusOr<DomainPlan> plan = PlanDomains({{"a", 10000, 100}, {"b", 400, 20}, {"c", 50, 1}}, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->domains[0].batch_size, 256);
  EXPECT_EQ(plan->domains[1].batch_size, 256);
  EXPECT_DOUBLE_EQ(plan->domains[1].lr_scale, 1.0);
  EXPECT_EQ(plan->domains[2].mode, DomainMode::kBaseModel);
}

// Reference = the largest warm domain (10000): b gets round(256 * 0.5) = 128,
// lr sqrt(1/2); c gets round(256 * 0.2) = 51.2 -> 51.
TEST(DomainPlanTest, LargestReferenceShrinksEveryOtherDomain) {
  DomainPlanOptions o = Options();
  o.reference = BatchReference::kLargest;
  StatusOr<DomainPlan> plan = PlanDomains({{"a", 10000, 100}, {"b", 2500, 50}, {"c", 400, 20}}, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->domains[0].batch_size, 256);
  EXPECT_EQ(plan->domains[1].batch_size, 128);
  EXPECT_DOUBLE_EQ(plan->domains[1].lr_scale, std::sqrt(0.5));
  EXPECT_EQ(plan->domains[2].batch_size, 51);
}

TEST(DomainPlanTest, BadOptionsAreRefused) {
  DomainPlanOptions o = Options();
  o.min_batch = 512;
  EXPECT_FALSE(PlanDomains({{"a", 10, 1}}, o).ok());
  EXPECT_FALSE(PlanDomains({}, Options()).ok());
  EXPECT_FALSE(PlanDomains({{"a", -1, 0}}, Options()).ok());
}

}  // namespace
}  // namespace iak::worker
