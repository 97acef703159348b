// What a domain name may be. Names come from users' data (a domain column's
// values) and specs (domain rules); they name result files
// (worker/domain_file_name.h, each byte at most three in a file name) and
// fill rows of tab-separated plans, so a name is refused early, with the
// line or rule that holds it, rather than after the training it would lose.
#ifndef IAK_DATA_DOMAIN_NAME_H_
#define IAK_DATA_DOMAIN_NAME_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace iak::data {

// 80 bytes: escaped, a name and its extension stay under the 255-byte file
// name limit of Linux file systems.
constexpr size_t kMaxDomainNameBytes = 80;

// Empty when `name` can be a domain's name; else what is wrong with it
// ("is empty", "holds a tab or a line break", "is longer than 80 bytes").
std::string DomainNameProblem(std::string_view name);

}  // namespace iak::data

#endif  // IAK_DATA_DOMAIN_NAME_H_
