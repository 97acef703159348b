// Time-ordered train/validation/test splits per domain, and sharding of
// sample lists across workers.
//
// Splitting by time rather than at random keeps the evaluation honest for a
// recommender: the model is always tested on interactions later than those
// it trained on, as in deployment.
//
// Thread-safety: pure functions of their arguments.
#ifndef IAK_DATA_SPLIT_H_
#define IAK_DATA_SPLIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"

namespace iak::data {

struct DomainSplit {
  SampleIds train;       // earliest samples of the domain
  SampleIds validation;  // the next ones
  SampleIds test;        // the latest ones
};

enum class SplitPart { kTrain, kValidation, kTest };

// Sample ids [begin, end) of a domain-ordered shard set (64-bit: a set may
// hold more than 2^32 samples).
struct IdRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
};
using IdRanges = std::vector<IdRange>;

// One domain's parts as ranges of a domain-ordered set, where its samples
// are [first, first + count) in time order.
struct DomainRanges {
  IdRange train, validation, test;
};

// InvalidArgumentError unless 0 <= each fraction and their sum <= 1; use it to
// check user-supplied fractions before calling SplitByTime.
[[nodiscard]] Status ValidateSplitFractions(double train_fraction, double validation_fraction);

// The order of a domain-ordered shard set and of SplitByTime: by domain id,
// then by timestamp; samples equal in both keep their input order (callers
// sort stably or break the tie by position). The one definition of that
// order: the in-memory sort, and the merge of sorted runs in a streamed
// `iak data convert`, both compare with it.
inline bool DomainTimeLess(int32_t domain_a, int64_t time_a, int32_t domain_b, int64_t time_b) {
  return domain_a != domain_b ? domain_a < domain_b : time_a < time_b;
}

// Every sample id of `data` in DomainTimeLess order (ties by id). When
// `domain_first` is not null it is set to the position of each domain's first
// sample in the result (one entry per data.domain_names).
// Precondition (CHECKed): every data.domain[s] indexes data.domain_names.
std::vector<uint64_t> DomainTimeOrder(const Dataset& data,
                                      std::vector<uint64_t>* domain_first = nullptr);

// One DomainSplit per entry of data.domain_names. Within a domain, sample ids
// are sorted by (timestamp, id) (DomainTimeOrder) and cut: the first
// floor(n * train_fraction) go to train, the next
// floor(n * validation_fraction) to validation, the rest to test. Each part is
// in that time order, so every train timestamp <= every validation timestamp
// <= every test timestamp of the same domain.
// Precondition (CHECKed): ValidateSplitFractions passes and every
// data.domain[s] indexes data.domain_names.
std::vector<DomainSplit> SplitByTime(const Dataset& data, double train_fraction = 0.8,
                                     double validation_fraction = 0.1);

// The ranges SplitByTime would cut from each domain of a domain-ordered set
// (domain d: `count[d]` samples from `first[d]`, in time order): the same
// sizes, so the same samples, without reading any of them.
// Precondition (CHECKed): ValidateSplitFractions passes, equal sizes.
std::vector<DomainRanges> SplitDomainRanges(const std::vector<uint64_t>& first,
                                            const std::vector<uint64_t>& count,
                                            double train_fraction, double validation_fraction);

// The `part` ids of the listed domains, concatenated in the order given
// (e.g. the train parts of the early domains for pre-training).
// Precondition (CHECKed): every entry of `domains` indexes `splits`.
SampleIds ConcatSplitParts(const std::vector<DomainSplit>& splits, const std::vector<int>& domains,
                           SplitPart part = SplitPart::kTrain);

// Moves a random share of all samples (of every domain and time) into a new
// domain named `name`, appended to data->domain_names; returns its index.
// Sample s moves when Mix64(s + 1) / 2^64 < share: a function of the sample
// index alone, so every node reading the same data moves the same samples.
// Used to pre-train a base on a random share of all data, so that the
// domains fine-tuned on the rest mostly hold users and items the base saw.
// Precondition (CHECKed): 0 <= share < 1.
int SplitOffRandomShare(Dataset* data, double share, const std::string& name);

// Worker `rank`'s share of `ids` among `world` workers: ids[rank],
// ids[rank + world], ... Strided, so shares differ in size by at most one and
// each keeps the input order; the shares of ranks 0..world-1 partition `ids`.
// Precondition (CHECKed): world > 0 and 0 <= rank < world.
SampleIds ShardIds(const SampleIds& ids, int rank, int world);

}  // namespace iak::data

#endif  // IAK_DATA_SPLIT_H_
