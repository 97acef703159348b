// PeakResidentBytes / ResidentBytes read /proc: the peak follows memory this
// process touches, and a process that is gone is NotFound.
#include "common/process_memory.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace iak {
namespace {

TEST(ProcessMemoryTest, ThePeakCoversMemoryThisProcessTouched) {
  StatusOr<uint64_t> before = PeakResidentBytes();
  ASSERT_TRUE(before.ok()) << before.status();
  constexpr size_t kTouched = size_t{64} << 20;
  std::vector<char> block(kTouched);
  std::memset(block.data(), 1, block.size());
  StatusOr<uint64_t> now = ResidentBytes();
  StatusOr<uint64_t> peak = PeakResidentBytes(::getpid());
  ASSERT_TRUE(now.ok() && peak.ok());
  EXPECT_GE(*now, kTouched);
  EXPECT_GE(*peak, *now);
  EXPECT_GE(*peak, *before);
  EXPECT_EQ(block[kTouched - 1], 1);
}

TEST(ProcessMemoryTest, AProcessThatIsGoneIsNotFound) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: its /proc entry is gone
  EXPECT_EQ(PeakResidentBytes(child).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace iak
