#include "data/domain_rules.h"

#include <algorithm>

#include "data/domain_name.h"
#include "data/numeric_value.h"
#include "data/utc_time.h"

namespace iak::data {
namespace {

int DomainId(const std::string& name, std::vector<std::string>* names) {
  const auto it = std::find(names->begin(), names->end(), name);
  if (it != names->end()) return static_cast<int>(it - names->begin());
  names->push_back(name);
  return static_cast<int>(names->size()) - 1;
}

bool InRange(double x, double min, double max) { return x >= min && x < max; }

}  // namespace

DomainRuleSet::DomainRuleSet() : names_{"all"} {}

StatusOr<DomainRuleSet> DomainRuleSet::Compile(const proto::DomainRules& rules,
                                               const std::vector<std::string>& column_names,
                                               bool has_timestamp) {
  DomainRuleSet set;
  if (const std::string& fallback = rules.default_domain(); !fallback.empty()) {
    if (const std::string problem = DomainNameProblem(fallback); !problem.empty()) {
      return InvalidArgumentError("domain rules: default_domain '" + fallback + "' " + problem);
    }
  }
  if (rules.rules_size() == 0) {
    if (!rules.default_domain().empty()) set.names_ = {rules.default_domain()};
    return set;
  }
  set.names_.clear();
  for (int i = 0; i < rules.rules_size(); ++i) {
    const proto::DomainRule& r = rules.rules(i);
    const std::string where = "domain rule " + std::to_string(i + 1) + " (domain '" + r.domain() +
                              "')";
    if (r.domain().empty()) return InvalidArgumentError(where + ": set `domain`, the name");
    if (const std::string problem = DomainNameProblem(r.domain()); !problem.empty()) {
      return InvalidArgumentError(where + ": the name " + problem);
    }
    Rule rule;
    // The range tests: [min, max) of a column's number or a timestamp part.
    const auto range = [&rule](Test test, const proto::ValueRange& bounds) {
      rule.test = test;
      rule.min = bounds.min();
      rule.max = bounds.max();
    };
    switch (r.test_case()) {
      case proto::DomainRule::kPrefix:
        rule.test = Test::kPrefix;
        rule.text = r.prefix();
        break;
      case proto::DomainRule::kEquals:
        rule.test = Test::kEquals;
        rule.text = r.equals();
        break;
      case proto::DomainRule::kValue:
        range(Test::kValue, r.value());
        break;
      case proto::DomainRule::kHourOfDay:
        range(Test::kHourOfDay, r.hour_of_day());
        break;
      case proto::DomainRule::kDayOfWeek:
        range(Test::kDayOfWeek, r.day_of_week());
        break;
      case proto::DomainRule::kYear:
        range(Test::kYear, r.year());
        break;
      default:
        return InvalidArgumentError(where + ": give one test: prefix, equals, value, "
                                            "hour_of_day, day_of_week or year");
    }
    const bool time_test = rule.test == Test::kHourOfDay || rule.test == Test::kDayOfWeek ||
                           rule.test == Test::kYear;
    if (time_test) {
      if (!has_timestamp) {
        return InvalidArgumentError(where + ": a time test needs a COLUMN_TIMESTAMP column in "
                                            "the schema");
      }
      if (!r.column().empty()) {
        return InvalidArgumentError(where + ": a time test reads the timestamp column; remove "
                                            "`column: \"" + r.column() + "\"`");
      }
    } else {
      const auto it = std::find(column_names.begin(), column_names.end(), r.column());
      if (it == column_names.end()) {
        return InvalidArgumentError(where + ": column '" + r.column() +
                                    "' is not a column of the schema");
      }
      rule.column = static_cast<int>(it - column_names.begin());
    }
    if (rule.test != Test::kHourOfDay && (rule.test == Test::kValue || time_test) &&
        !(rule.min < rule.max)) {
      return InvalidArgumentError(where + ": the range needs min < max");
    }
    rule.domain = DomainId(r.domain(), &set.names_);
    set.rules_.push_back(std::move(rule));
  }
  set.default_domain_ =
      rules.default_domain().empty() ? -1 : DomainId(rules.default_domain(), &set.names_);
  return set;
}

int DomainRuleSet::Evaluate(const std::string_view* columns, int64_t timestamp) const {
  if (rules_.empty()) return 0;
  bool have_utc = false;
  UtcFields utc;
  for (const Rule& rule : rules_) {
    bool holds = false;
    switch (rule.test) {
      case Test::kPrefix:
        holds = columns[rule.column].substr(0, rule.text.size()) == rule.text;
        break;
      case Test::kEquals:
        holds = columns[rule.column] == rule.text;
        break;
      case Test::kValue: {
        double v;
        holds = ParseNumber(columns[rule.column], &v) && InRange(v, rule.min, rule.max);
        break;
      }
      default: {
        if (!have_utc) {
          utc = ToUtc(timestamp);
          have_utc = true;
        }
        if (rule.test == Test::kHourOfDay) {
          const double h = utc.hour;
          // min > max wraps midnight: [22, 6) is 22..23 and 0..5.
          holds = rule.min <= rule.max ? InRange(h, rule.min, rule.max)
                                       : (h >= rule.min || h < rule.max);
        } else if (rule.test == Test::kDayOfWeek) {
          holds = InRange(utc.weekday, rule.min, rule.max);
        } else {
          holds = InRange(static_cast<double>(utc.year), rule.min, rule.max);
        }
      }
    }
    if (holds) return rule.domain;
  }
  return default_domain_;
}

}  // namespace iak::data
