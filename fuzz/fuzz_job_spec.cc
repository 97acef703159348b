// Job specs (job/job_spec.h): any text is loaded (parse, defaults, checks)
// or refused with an error; a spec that loads saves and loads back equal.
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "job/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using iak::proto::JobSpec;
  iak::fuzz::CheckFileRoundTrip(
      "job.pbtxt", data, size, [](const std::string& path) { return iak::job::LoadJobSpec(path); },
      [](const JobSpec& spec, const std::string& path) {
        return iak::job::SaveJobSpec(spec, path);
      },
      [](const JobSpec& a, const JobSpec& b) { return a.DebugString() == b.DebugString(); });
  return 0;
}
