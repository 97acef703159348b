#include "data/domain_name.h"

namespace iak::data {

std::string DomainNameProblem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.find_first_of("\t\n\r") != std::string_view::npos) {
    return "holds a tab or a line break";
  }
  if (name.size() > kMaxDomainNameBytes) {
    return "is longer than " + std::to_string(kMaxDomainNameBytes) + " bytes (" +
           std::to_string(name.size()) + ")";
  }
  return "";
}

}  // namespace iak::data
