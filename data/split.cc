#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include <glog/logging.h>

#include "common/keys.h"

namespace iak::data {
namespace {

// floor(n * fraction), forgiving the rounding error of binary fractions so
// that 100 * 0.29 gives 29 rather than 28.
size_t PartSize(size_t n, double fraction) {
  return static_cast<size_t>(std::floor(static_cast<double>(n) * fraction + 1e-9));
}

// The train and validation counts of a domain of n samples; the rest is test.
void PartSizes(size_t n, double train_fraction, double validation_fraction, size_t* n_train,
               size_t* n_val) {
  *n_train = std::min(n, PartSize(n, train_fraction));
  *n_val = std::min(n - *n_train, PartSize(n, validation_fraction));
}

}  // namespace

Status ValidateSplitFractions(double train_fraction, double validation_fraction) {
  // Written as negations so that NaN fails too.
  if (!(train_fraction >= 0.0) || !(validation_fraction >= 0.0) ||
      !(train_fraction + validation_fraction <= 1.0)) {
    return InvalidArgumentError("split fractions must be >= 0 and sum to at most 1; got train " +
                                std::to_string(train_fraction) + ", validation " +
                                std::to_string(validation_fraction));
  }
  return Status::Ok();
}

namespace {

// Sets *ids to every sample id of `data` in DomainTimeLess order and
// *domain_first to where each domain starts: ids bucketed by domain (a stable
// counting sort), then each domain's run stably sorted by timestamp.
template <typename Id>
void SortByDomainTime(const Dataset& data, std::vector<Id>* ids,
                      std::vector<uint64_t>* domain_first) {
  CHECK_EQ(data.domain.size(), data.size());
  CHECK_EQ(data.timestamp.size(), data.size());
  const size_t num_domains = data.domain_names.size();
  std::vector<uint64_t> next(num_domains + 1, 0);
  for (size_t s = 0; s < data.size(); ++s) {
    const int32_t d = data.domain[s];
    CHECK(d >= 0 && static_cast<size_t>(d) < num_domains)
        << "sample " << s << " has domain " << d << " but there are " << num_domains;
    ++next[static_cast<size_t>(d) + 1];
  }
  for (size_t d = 0; d < num_domains; ++d) next[d + 1] += next[d];
  domain_first->assign(next.begin(), next.end() - 1);
  ids->resize(data.size());
  for (size_t s = 0; s < data.size(); ++s) {
    (*ids)[next[static_cast<size_t>(data.domain[s])]++] = static_cast<Id>(s);
  }
  // Ids within a domain are ascending, so a stable sort by timestamp yields
  // the (timestamp, id) order.
  for (size_t d = 0; d < num_domains; ++d) {
    std::stable_sort(ids->begin() + static_cast<std::ptrdiff_t>((*domain_first)[d]),
                     ids->begin() + static_cast<std::ptrdiff_t>(next[d]), [&data](Id a, Id b) {
                       return DomainTimeLess(data.domain[a], data.timestamp[a], data.domain[b],
                                             data.timestamp[b]);
                     });
  }
}

}  // namespace

std::vector<uint64_t> DomainTimeOrder(const Dataset& data, std::vector<uint64_t>* domain_first) {
  std::vector<uint64_t> ids, first;
  SortByDomainTime(data, &ids, &first);
  if (domain_first != nullptr) *domain_first = std::move(first);
  return ids;
}

std::vector<DomainSplit> SplitByTime(const Dataset& data, double train_fraction,
                                     double validation_fraction) {
  const Status valid = ValidateSplitFractions(train_fraction, validation_fraction);
  CHECK(valid.ok()) << valid;
  SampleIds ids;
  std::vector<uint64_t> first;
  SortByDomainTime(data, &ids, &first);
  const size_t num_domains = data.domain_names.size();
  std::vector<DomainSplit> splits(num_domains);
  for (size_t d = 0; d < num_domains; ++d) {
    const auto begin = ids.begin() + static_cast<std::ptrdiff_t>(first[d]);
    const size_t n = (d + 1 < num_domains ? first[d + 1] : ids.size()) - first[d];
    size_t n_train, n_val;
    PartSizes(n, train_fraction, validation_fraction, &n_train, &n_val);
    splits[d].train.assign(begin, begin + static_cast<std::ptrdiff_t>(n_train));
    splits[d].validation.assign(begin + static_cast<std::ptrdiff_t>(n_train),
                                begin + static_cast<std::ptrdiff_t>(n_train + n_val));
    splits[d].test.assign(begin + static_cast<std::ptrdiff_t>(n_train + n_val),
                          begin + static_cast<std::ptrdiff_t>(n));
  }
  return splits;
}

std::vector<DomainRanges> SplitDomainRanges(const std::vector<uint64_t>& first,
                                            const std::vector<uint64_t>& count,
                                            double train_fraction, double validation_fraction) {
  const Status valid = ValidateSplitFractions(train_fraction, validation_fraction);
  CHECK(valid.ok()) << valid;
  CHECK_EQ(first.size(), count.size());
  std::vector<DomainRanges> out(first.size());
  for (size_t d = 0; d < first.size(); ++d) {
    size_t n_train, n_val;
    PartSizes(count[d], train_fraction, validation_fraction, &n_train, &n_val);
    const uint64_t a = first[d];
    out[d].train = {a, a + n_train};
    out[d].validation = {a + n_train, a + n_train + n_val};
    out[d].test = {a + n_train + n_val, a + count[d]};
  }
  return out;
}

SampleIds ConcatSplitParts(const std::vector<DomainSplit>& splits, const std::vector<int>& domains,
                           SplitPart part) {
  SampleIds out;
  for (int d : domains) {
    CHECK(d >= 0 && static_cast<size_t>(d) < splits.size())
        << "domain " << d << " out of range [0, " << splits.size() << ")";
    const DomainSplit& split = splits[static_cast<size_t>(d)];
    const SampleIds& ids = part == SplitPart::kTrain        ? split.train
                           : part == SplitPart::kValidation ? split.validation
                                                            : split.test;
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

int SplitOffRandomShare(Dataset* data, double share, const std::string& name) {
  CHECK(share >= 0 && share < 1) << "SplitOffRandomShare: share " << share;
  const int domain = static_cast<int>(data->domain_names.size());
  data->domain_names.push_back(name);
  // The top 53 bits of the mixed index as a uniform double in [0, 1).
  for (size_t s = 0; s < data->size(); ++s) {
    const double u = static_cast<double>(Mix64(s + 1) >> 11) * 0x1.0p-53;
    if (u < share) data->domain[s] = domain;
  }
  return domain;
}

SampleIds ShardIds(const SampleIds& ids, int rank, int world) {
  CHECK_GT(world, 0);
  CHECK(rank >= 0 && rank < world) << "rank " << rank << " not in [0, " << world << ")";
  SampleIds out;
  out.reserve(ids.size() / static_cast<size_t>(world) + 1);
  for (size_t i = static_cast<size_t>(rank); i < ids.size(); i += static_cast<size_t>(world)) {
    out.push_back(ids[i]);
  }
  return out;
}

}  // namespace iak::data
