// Domain rules: a small expression language over a sample's columns that
// names its domain (period, region, scene), e.g.
//   rules { domain: "lunch" hour_of_day { min: 11 max: 14 } }
//   rules { domain: "north" column: "zip" prefix: "1" }
//   rules { domain: "search" column: "page" equals: "search" }
//   default_domain: "other"
// Rules are tried in order and the first that holds wins; several rules may
// name the same domain. Domain ids follow the order in which names first
// appear in the rules, then the default domain.
//
// Thread-safety: a const DomainRuleSet may be evaluated from any thread.
#ifndef IAK_DATA_DOMAIN_RULES_H_
#define IAK_DATA_DOMAIN_RULES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

class DomainRuleSet {
 public:
  // No rules: every sample is in domain 0, named "all".
  DomainRuleSet();

  // `column_names` are the schema's expanded columns in file order; rules
  // that read a column must name one of them. `has_timestamp` says whether
  // time rules (hour_of_day, day_of_week, year) have a timestamp to read.
  // InvalidArgumentError naming the rule (1-based) and what is wrong.
  [[nodiscard]] static StatusOr<DomainRuleSet> Compile(const proto::DomainRules& rules,
                                                       const std::vector<std::string>& column_names,
                                                       bool has_timestamp);

  // The domain id of a sample with these column texts and timestamp
  // (seconds since the epoch), or -1 when no rule holds and there is no
  // default domain. Numeric tests fail on text that is not a number.
  int Evaluate(const std::string_view* columns, int64_t timestamp) const;

  const std::vector<std::string>& domain_names() const { return names_; }
  bool empty() const { return rules_.empty(); }

 private:
  enum class Test { kPrefix, kEquals, kValue, kHourOfDay, kDayOfWeek, kYear };
  struct Rule {
    Test test = Test::kEquals;
    int column = -1;
    std::string text;
    double min = 0;
    double max = 0;
    int domain = 0;
  };

  std::vector<Rule> rules_;
  std::vector<std::string> names_;
  int default_domain_ = 0;
};

}  // namespace iak::data

#endif  // IAK_DATA_DOMAIN_RULES_H_
