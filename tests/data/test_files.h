// Temporary folders and files for data tests.
#ifndef IAK_TESTS_DATA_TEST_FILES_H_
#define IAK_TESTS_DATA_TEST_FILES_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>

namespace iak::data::testing {

// A fresh folder under the test temp dir (left for inspection on failure).
inline std::string MakeTempDir() {
  std::string templ = ::testing::TempDir() + "/iak_data_XXXXXX";
  char* dir = mkdtemp(templ.data());
  EXPECT_NE(dir, nullptr);
  return templ;
}

inline std::string WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  EXPECT_TRUE(out.good()) << path;
  return path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace iak::data::testing

#endif  // IAK_TESTS_DATA_TEST_FILES_H_
