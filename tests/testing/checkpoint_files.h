// Whether a job directory holds a finished checkpoint of a given phase: what
// the restart and resume tests poll for (with a deadline) before they
// interrupt a run. Only final names count ("ckpt-PPPP-SSSSSSSSSSSS.iakckpt"),
// not the temporary file of a checkpoint being written.
#ifndef IAK_TESTS_TESTING_CHECKPOINT_FILES_H_
#define IAK_TESTS_TESTING_CHECKPOINT_FILES_H_

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

namespace iak::testing_util {

// True when <job_dir>/checkpoints holds a checkpoint of `phase` (0-based);
// with `mid_phase`, only one past the phase's step 0 (the checkpoint written
// at the previous phase's end) counts. A missing directory is false.
inline bool HasCheckpointOfPhase(const std::string& job_dir, int phase, bool mid_phase = false) {
  char prefix[32];
  std::snprintf(prefix, sizeof(prefix), "ckpt-%04d-", phase);
  const std::string phase_start = std::string(prefix) + "000000000000.iakckpt";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(job_dir + "/checkpoints", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || entry.path().extension() != ".iakckpt") continue;
    if (mid_phase && name == phase_start) continue;
    return true;
  }
  return false;
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_CHECKPOINT_FILES_H_
