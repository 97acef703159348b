// `iak data synth`: seeded synthetic multi-domain data (data/synth.h;
// generative model in docs/data.md, "Synthetic data").
#include <gflags/gflags.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "data/synth.h"

// --out (pretrain_command.cc), --seed and --keys (bench/pull_bench.cc, a
// string there) are declared, not defined: one gflags name per binary.
DECLARE_string(out);
DECLARE_uint64(seed);
DECLARE_string(keys);
DEFINE_int64(samples, 100000, "data synth: rows to write");
DEFINE_int32(domains, 4, "data synth: domains (1..1000)");
DEFINE_double(shift_scale, 1.0, "data synth: size of each domain's shift of interest");
DEFINE_double(domain_size_skew, 1.0,
              "data synth: domain d is drawn with probability ~ 1/(d+1)^skew (2 = deliberately "
              "small tail domains)");

namespace iak::cli {

int RunDataSynth(int, char**) {
  data::SynthOptions options;
  options.out = FLAGS_out;
  options.samples = FLAGS_samples;
  // --keys=N: distinct user + item ids (default 10000).
  if (!gflags::GetCommandLineFlagInfoOrDie("keys").is_default) {
    char* end = nullptr;
    options.keys = std::strtoll(FLAGS_keys.c_str(), &end, 10);
    if (FLAGS_keys.empty() || *end != '\0') {
      return ReportError("data synth", InvalidArgumentError("--keys must be a number of keys, not '" +
                                                            FLAGS_keys + "'"));
    }
  }
  options.domains = FLAGS_domains;
  options.seed = FLAGS_seed;
  options.shift_scale = FLAGS_shift_scale;
  options.domain_size_skew = FLAGS_domain_size_skew;
  StatusOr<data::SynthReport> report = data::WriteSynthData(options);
  if (!report.ok()) return ReportError("data synth", report.status());
  std::printf("wrote %s: %lld samples, %lld bytes, seed %llu (schema: examples/synth.schema.pbtxt)\n",
              options.out.c_str(), static_cast<long long>(report->samples),
              static_cast<long long>(report->bytes), static_cast<unsigned long long>(options.seed));
  std::printf("%-6s %10s %8s %8s %11s %10s\n", "domain", "samples", "CTR", "CVR|click",
              "click bias", "cvr bias");
  for (const data::SynthDomainStats& d : report->domains) {
    std::printf("%-6s %10lld %8.4f %8.4f %11.2f %10.2f\n", d.name.c_str(),
                static_cast<long long>(d.samples),
                d.samples ? static_cast<double>(d.clicks) / d.samples : 0.0,
                d.clicks ? static_cast<double>(d.conversions) / d.clicks : 0.0, d.click_bias,
                d.conversion_bias);
  }
  return 0;
}

}  // namespace iak::cli
