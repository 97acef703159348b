// net::Frame: strings and adopted buffers read alike; an adopted buffer is
// released exactly once, by whichever frame holds it last; copies are deep.
#include "net/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace iak::net {
namespace {

struct Releases {
  int count = 0;
  char* last = nullptr;
};

void CountRelease(char* data, void* hint) {
  auto* releases = static_cast<Releases*>(hint);
  ++releases->count;
  releases->last = data;
}

TEST(FrameTest, StringsAndAdoptedBuffersReadAlike) {
  const Frame text("abc");
  EXPECT_EQ(text.size(), 3u);
  EXPECT_EQ(text, "abc");
  EXPECT_EQ(text.ToString(), std::string("abc"));

  char buffer[] = {'a', 'b', 'c'};
  Releases releases;
  {
    const Frame adopted = Frame::Adopt(buffer, sizeof(buffer), &CountRelease, &releases);
    EXPECT_EQ(adopted.data(), buffer);
    EXPECT_EQ(adopted, text);
    EXPECT_EQ(adopted.view(), "abc");
  }
  EXPECT_EQ(releases.count, 1);
  EXPECT_EQ(releases.last, buffer);
}

TEST(FrameTest, AnAdoptedBufferIsReleasedOnceByItsLastHolder) {
  char buffer[8] = {};
  Releases releases;
  std::vector<Frame> frames;
  {
    Frame first = Frame::Adopt(buffer, sizeof(buffer), &CountRelease, &releases);
    Frame second = std::move(first);
    EXPECT_TRUE(first.empty());  // NOLINT: reading a moved-from frame is defined
    frames.push_back(std::move(second));
    frames.reserve(100);  // moves the frame again
  }
  EXPECT_EQ(releases.count, 0);
  EXPECT_EQ(frames[0].data(), buffer);
  frames[0] = Frame("replaced");  // assignment releases what it held
  EXPECT_EQ(releases.count, 1);
  frames.clear();
  EXPECT_EQ(releases.count, 1);
}

TEST(FrameTest, CopiesAreDeepAndUninitializedFramesAreWritable) {
  Frame rows = Frame::Uninitialized(1000);
  ASSERT_EQ(rows.size(), 1000u);
  std::memset(rows.data(), 'x', rows.size());
  const Frame copy = rows;
  EXPECT_NE(copy.data(), rows.data());
  EXPECT_EQ(copy, std::string(1000, 'x'));
  rows.data()[0] = 'y';
  EXPECT_EQ(copy.data()[0], 'x');
  EXPECT_TRUE(Frame::Uninitialized(0).empty());
}

}  // namespace
}  // namespace iak::net
