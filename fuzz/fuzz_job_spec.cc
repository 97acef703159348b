// Job specs (job/job_spec.h): any text is loaded (parse, defaults, checks)
// or refused with an error; a spec that loads saves and loads back equal.
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "job/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = iak::fuzz::WriteScratch(
      "job.pbtxt", std::string_view(reinterpret_cast<const char*>(data), size));
  auto spec = iak::job::LoadJobSpec(path);
  if (!spec.ok()) return 0;
  const std::string again = iak::fuzz::ScratchDir() + "/again.pbtxt";
  if (!iak::job::SaveJobSpec(*spec, again).ok()) std::abort();
  auto back = iak::job::LoadJobSpec(again);
  if (!back.ok()) std::abort();
  return 0;
}
