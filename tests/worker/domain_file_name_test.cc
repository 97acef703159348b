#include "worker/domain_file_name.h"

#include <gtest/gtest.h>

#include <string>

namespace iak::worker {
namespace {

TEST(DomainFileNameTest, PlainNamesKeepTheirFileNames) {
  for (const std::string name : {"2004-2007", "Sci-Fi", "d01", "a_b.c"}) {
    EXPECT_EQ(DomainFileStem(name), name);
  }
}

TEST(DomainFileNameTest, PathsAndOtherBytesAreEscaped) {
  EXPECT_EQ(DomainFileStem("us/east"), "us%2Feast");
  EXPECT_EQ(DomainFileStem(".."), "%2E.");
  EXPECT_EQ(DomainFileStem(".hidden"), "%2Ehidden");
  EXPECT_EQ(DomainFileStem("q\"x y"), "q%22x%20y");
  EXPECT_EQ(DomainFileStem("50%"), "50%25");
  EXPECT_EQ(DomainFileStem("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(DomainFileStem("../../etc/passwd").find('/'), std::string::npos);
}

TEST(DomainFileNameTest, StemsReadBackAsTheirDomains) {
  for (const std::string name :
       {"2004-2007", "us/east", "..", ".x", "q\"x y", "50%", "%2F", "caf\xc3\xa9", "a\\b"}) {
    EXPECT_EQ(DomainOfFileStem(DomainFileStem(name)), name) << name;
  }
  // Not a stem this code wrote: left as it is.
  EXPECT_EQ(DomainOfFileStem("100%"), "100%");
  EXPECT_EQ(DomainOfFileStem("%zz"), "%zz");
}

}  // namespace
}  // namespace iak::worker
