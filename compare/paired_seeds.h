// Paired by seed: one method against another over the same seeds. `iak
// compare --job` trains every method of a seed from the same start and the
// same batches, so the per-seed difference of two methods' test AUC cancels
// what the seed moves in both; its mean with a 95 % t-interval says whether,
// and by how much, the first differs from the second on each domain. This is
// how a variant is judged against the method it varies (frozen_precision
// "bf16" against fp32, docs/benchmarks.md): the seeds' own spread of each
// method is many times wider than the change.
//
// Thread-safety: pure functions of their arguments.
#ifndef IAK_COMPARE_PAIRED_SEEDS_H_
#define IAK_COMPARE_PAIRED_SEEDS_H_

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "compare/method_report.h"
#include "compare/statistics.h"

namespace iak::compare {

// The largest mean change of test AUC a precision option may bring to a
// domain (the bar of the bf16 frozen bottom, docs/benchmarks.md).
inline constexpr double kNegligibleAucChange = 0.001;

struct PairedSeedChange {
  std::string method;
  std::string against;
  std::string domain;
  Interval change;    // of method - against, over the seeds where both AUCs are defined
  int identical = 0;  // seeds where the two AUCs are equal
  // The interval excludes zero (two seeds at least).
  bool significant() const { return change.n > 1 && (change.low > 0 || change.high < 0); }
};

using MethodPair = std::pair<std::string, std::string>;  // method, against

// "A:B,C:D" -> {{A, B}, {C, D}}; empty text -> none. InvalidArgument naming
// an item that is not two non-empty names around one ':'.
[[nodiscard]] StatusOr<std::vector<MethodPair>> ParseMethodPairs(const std::string& list);

// Per domain, `pair.first` against `pair.second` over `runs` (one per seed,
// each holding both methods). InvalidArgument naming a method that no run
// holds.
[[nodiscard]] StatusOr<std::vector<PairedSeedChange>> PairSeeds(
    const std::vector<MethodReport>& runs, const MethodPair& pair);

// A Markdown section per pair: a row per domain, then how many domains are
// within kNegligibleAucChange and which moved significantly.
std::string PairedChangesMarkdown(const std::vector<PairedSeedChange>& changes);
// A JSON array, an object per (pair, domain).
std::string PairedChangesJson(const std::vector<PairedSeedChange>& changes);

}  // namespace iak::compare

#endif  // IAK_COMPARE_PAIRED_SEEDS_H_
