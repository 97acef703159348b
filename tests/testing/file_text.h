// The whole content of a file as a string (empty when it cannot be read):
// for logs and small outputs the tests print or search.
#ifndef IAK_TESTS_TESTING_FILE_TEXT_H_
#define IAK_TESTS_TESTING_FILE_TEXT_H_

#include <fstream>
#include <sstream>
#include <string>

namespace iak::testing_util {

inline std::string FileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_FILE_TEXT_H_
