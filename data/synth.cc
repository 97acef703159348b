#include "data/synth.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace iak::data {
namespace {

constexpr int64_t kStartTime = 1600000000;  // 2020-09-13 UTC; one sample per second
constexpr size_t kFlushBytes = 1 << 20;

uint64_t Mix(uint64_t x) {  // SplitMix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t Hash(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  return Mix(Mix(Mix(seed ^ 0x5EEDull) ^ a) ^ (b * 0x100000001B3ull)) ^ Mix(c + 7);
}

double Unit(uint64_t h) { return (h >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)

// An approximately standard normal number from a hash (Irwin-Hall of 4).
double HashNormal(uint64_t h) {
  double s = 0;
  for (int i = 0; i < 4; ++i) s += Unit(Mix(h + i));
  return (s - 2.0) * std::sqrt(3.0);
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The sequential per-sample random stream.
class Stream {
 public:
  explicit Stream(uint64_t seed) : state_(Mix(seed)) {}
  double Next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return Unit(Mix(state_));
  }

 private:
  uint64_t state_;
};

enum Salt : uint64_t { kUserTaste = 1, kItemQuality, kDomainShift, kItemCategory };

}  // namespace

std::string SynthDomainName(int d, int num_domains) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), num_domains > 100 ? "d%03d" : "d%02d", d);
  return buf;
}

Status ValidateSynthOptions(const SynthOptions& o) {
  if (o.out.empty()) return InvalidArgumentError("synth: give --out=FILE.csv");
  if (o.samples <= 0) return InvalidArgumentError("synth: --samples must be positive");
  if (o.keys < 2) return InvalidArgumentError("synth: --keys must be at least 2 (users + items)");
  if (o.domains < 1 || o.domains > kMaxSynthDomains) {
    return InvalidArgumentError("synth: --domains must be in 1.." +
                                std::to_string(kMaxSynthDomains) + ", not " +
                                std::to_string(o.domains));
  }
  if (o.domains > o.samples) {
    return InvalidArgumentError("synth: --domains (" + std::to_string(o.domains) +
                                ") exceeds --samples");
  }
  if (o.categories < 1) return InvalidArgumentError("synth: categories must be positive");
  if (!(o.domain_size_skew >= 0 && o.domain_size_skew <= 10)) {
    return InvalidArgumentError("synth: --domain_size_skew must be in [0, 10]");
  }
  // NaN passed every comparison and made every label's logit NaN.
  if (!(o.shift_scale >= 0 && o.shift_scale <= 100)) {
    return InvalidArgumentError("synth: --shift_scale must be in [0, 100], not " +
                                std::to_string(o.shift_scale));
  }
  return Status::Ok();
}

StatusOr<SynthReport> WriteSynthData(const SynthOptions& o) {
  IAK_RETURN_IF_ERROR(ValidateSynthOptions(o));
  const int64_t users = o.keys / 2;
  const int64_t items = o.keys - users;
  const int D = o.domains;
  SynthReport report;
  // Domain sizes ~ 1/(d+1)^skew (a few big domains, a tail of small ones); click
  // base rates rise with d, conversion base rates fall with it.
  std::vector<double> cumulative(D);
  double total = 0;
  for (int d = 0; d < D; ++d) {
    total += 1.0 / std::pow(d + 1, o.domain_size_skew);
    cumulative[d] = total;
    SynthDomainStats s;
    s.name = SynthDomainName(d, D);
    const double frac = D == 1 ? 0.0 : static_cast<double>(d) / (D - 1);
    s.click_bias = -2.5 + 1.5 * frac;
    s.conversion_bias = -1.0 - 1.0 * frac;
    report.domains.push_back(s);
  }
  for (double& c : cumulative) c /= total;
  // Shifts of interest, centred per domain (mean zero over categories, unit
  // spread), so each domain's overall click rate follows its designed bias.
  std::vector<double> shifts(static_cast<size_t>(D) * o.categories);
  for (int d = 0; d < D; ++d) {
    double mean = 0, sq = 0;
    for (int c = 0; c < o.categories; ++c) {
      const double v = HashNormal(Hash(o.seed, kDomainShift, d, c));
      shifts[static_cast<size_t>(d) * o.categories + c] = v;
      mean += v / o.categories;
    }
    for (int c = 0; c < o.categories; ++c) {
      const double v = shifts[static_cast<size_t>(d) * o.categories + c] - mean;
      sq += v * v / o.categories;
    }
    const double scale = o.categories > 1 && sq > 0 ? o.shift_scale / std::sqrt(sq) : 0.0;
    for (int c = 0; c < o.categories; ++c) {
      double& v = shifts[static_cast<size_t>(d) * o.categories + c];
      v = (v - mean) * scale;
    }
  }

  const std::string tmp = o.out + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return IoError("synth: cannot write " + tmp + ": check the folder exists");
  std::string buf = "timestamp,domain,user,item,category,click,conversion\n";
  Stream rng(o.seed);
  bool io_ok = true;
  for (int64_t i = 0; i < o.samples; ++i) {
    int d = 0;
    const double r = rng.Next();
    if (i < D) {
      d = static_cast<int>(i);  // domains appear in index order (their numbering)
    } else {
      while (d + 1 < D && r >= cumulative[d]) ++d;
    }
    // Popularity skew: low ids are drawn more often.
    const int64_t user = std::min<int64_t>(users - 1, users * std::pow(rng.Next(), 2.0));
    const int64_t item = std::min<int64_t>(items - 1, items * std::pow(rng.Next(), 1.5));
    const int category = static_cast<int>(Hash(o.seed, kItemCategory, item, 0) % o.categories);
    const SynthDomainStats& dom = report.domains[d];
    const double taste = HashNormal(Hash(o.seed, kUserTaste, user, category));
    const double quality = HashNormal(Hash(o.seed, kItemQuality, item, 0));
    // The shift of interest: domain d likes category c more or less than others.
    const double shift = shifts[static_cast<size_t>(d) * o.categories + category];
    const double click_logit = dom.click_bias + 0.8 * taste + 0.5 * quality + shift;
    const int click = rng.Next() < Sigmoid(click_logit) ? 1 : 0;
    const double cvr_logit = dom.conversion_bias + 0.7 * quality + 0.5 * shift;
    const double u_cvr = rng.Next();  // always drawn: the stream never depends on labels
    const int conversion = click == 1 && u_cvr < Sigmoid(cvr_logit) ? 1 : 0;
    SynthDomainStats& stats = report.domains[d];
    ++stats.samples;
    stats.clicks += click;
    stats.conversions += conversion;
    char line[160];
    const int n = std::snprintf(line, sizeof(line), "%lld,%s,u%lld,i%lld,c%d,%d,%d\n",
                                static_cast<long long>(kStartTime + i), dom.name.c_str(),
                                static_cast<long long>(user), static_cast<long long>(item),
                                category, click, conversion);
    buf.append(line, n);
    if (buf.size() >= kFlushBytes) {
      io_ok = io_ok && std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
      report.bytes += buf.size();
      buf.clear();
    }
  }
  io_ok = io_ok && std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  report.bytes += buf.size();
  io_ok = (std::fclose(f) == 0) && io_ok;
  if (!io_ok) {
    std::remove(tmp.c_str());
    return IoError("synth: error writing " + tmp + " (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, o.out, ec);
  if (ec) return IoError("synth: cannot rename " + tmp + " to " + o.out + ": " + ec.message());
  report.samples = o.samples;
  return report;
}

}  // namespace iak::data
