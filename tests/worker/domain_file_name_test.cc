#include "worker/domain_file_name.h"

#include <gtest/gtest.h>

#include <string>

namespace iak::worker {
namespace {

// Names that were file names before keep them (outputs of earlier runs,
// shared adapters "shared:a+b", names with spaces or quotes, UTF-8).
TEST(DomainFileNameTest, NamesThatAreFileNamesStayAsTheyAre) {
  for (const std::string name :
       {"2004-2007", "Sci-Fi", "d01", "a_b.c", "shared:a+b", "q\"x y", "caf\xc3\xa9", "a.b."}) {
    EXPECT_EQ(DomainFileStem(name), name);
  }
}

TEST(DomainFileNameTest, PathsControlsAndLeadingDotsAreEscaped) {
  EXPECT_EQ(DomainFileStem("us/east"), "us%2Feast");
  EXPECT_EQ(DomainFileStem(".."), "%2E.");
  EXPECT_EQ(DomainFileStem(".hidden"), "%2Ehidden");
  EXPECT_EQ(DomainFileStem("50%"), "50%25");
  EXPECT_EQ(DomainFileStem("a\tb\x7f"), "a%09b%7F");
  EXPECT_EQ(DomainFileStem("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd");
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
