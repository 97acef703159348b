// Synthetic multi-domain CTR/CVR data (`iak data synth`), seeded, written as
// CSV that examples/synth.schema.pbtxt reads. The generative model, with its
// known per-domain shifts of interest, is in docs/data.md ("Synthetic data").
//
// Streaming: every per-key quantity is a hash of (seed, key), so no table is
// held in memory; rows go out through a fixed buffer. 10^7 samples and 10^7
// keys take constant memory.
#ifndef IAK_DATA_SYNTH_H_
#define IAK_DATA_SYNTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::data {

// The most domains synthetic data has (`iak data synth --domains`).
inline constexpr int kMaxSynthDomains = 1000;

struct SynthOptions {
  std::string out;            // CSV file to write
  int64_t samples = 100000;   // rows
  int64_t keys = 10000;       // user + item ids (half each, at least one of each)
  int domains = 4;            // 1..kMaxSynthDomains
  uint64_t seed = 1;
  int categories = 32;        // item categories (an extra field)
  double shift_scale = 1.0;   // size of each domain's shift of interest
  // Domain d is drawn with probability proportional to 1/(d+1)^skew: 1 =
  // the default tail, 2 = a few big domains and deliberately small ones.
  double domain_size_skew = 1.0;
};

[[nodiscard]] Status ValidateSynthOptions(const SynthOptions& options);

struct SynthDomainStats {
  std::string name;
  int64_t samples = 0;
  int64_t clicks = 0;
  int64_t conversions = 0;
  double click_bias = 0;       // the domain's designed CTR logit offset
  double conversion_bias = 0;  // and CVR logit offset
};

struct SynthReport {
  std::vector<SynthDomainStats> domains;
  int64_t samples = 0;
  int64_t bytes = 0;
};

// Domain d's name: "d00", "d01", ... (two digits, three past 99).
std::string SynthDomainName(int d, int num_domains);

// Writes the file (atomically: temp file then rename). InvalidArgument on bad
// options; IoError naming the file when it cannot be written.
[[nodiscard]] StatusOr<SynthReport> WriteSynthData(const SynthOptions& options);

}  // namespace iak::data

#endif  // IAK_DATA_SYNTH_H_
