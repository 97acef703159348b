// CreateDirectories: nested directories are made (again: OK), and a path
// that cannot be a directory is an IoError naming it, the reason and the hint.
#include "common/file_util.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/testing/temp_dir.h"

namespace iak {
namespace {

TEST(CreateDirectoriesTest, MakesMissingParentsAndAcceptsAnExistingDirectory) {
  testing_util::TempDir tmp("create_dirs");
  ASSERT_TRUE(tmp.ok());
  const std::string dir = tmp.path() + "/a/b/c";
  ASSERT_TRUE(CreateDirectories(dir).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_TRUE(CreateDirectories(dir).ok());
}

TEST(CreateDirectoriesTest, UnderAFileIsAnIoErrorWithThePathAndTheHint) {
  testing_util::TempDir tmp("create_dirs");
  ASSERT_TRUE(tmp.ok());
  const std::string file = tmp.path() + "/plain";
  ASSERT_TRUE(WriteFileAtomically(file, "x").ok());
  const Status status = CreateDirectories(file + "/sub", "set output_dir to a writable directory");
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find("cannot create " + file + "/sub: "), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("; set output_dir to a writable directory"), std::string::npos)
      << status;
  const Status bare = CreateDirectories(file + "/sub");
  EXPECT_EQ(bare.message().find(';'), std::string::npos) << bare;
}

}  // namespace
}  // namespace iak
