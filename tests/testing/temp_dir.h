// A fresh directory under /tmp for one test suite's files, removed with
// everything in it when the object goes away. Create it in SetUpTestSuite,
// check ok(), delete it in TearDownTestSuite.
#ifndef IAK_TESTS_TESTING_TEMP_DIR_H_
#define IAK_TESTS_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace iak::testing_util {

class TempDir {
 public:
  // Makes /tmp/<prefix>_XXXXXX (mkdtemp); ok() says whether it exists.
  explicit TempDir(const std::string& prefix) {
    std::string pattern = "/tmp/" + prefix + "_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) != nullptr) path_ = buffer.data();
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_TEMP_DIR_H_
