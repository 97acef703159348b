// Checkpoints of a fine-tuning job: what a worker (or a restarted job) needs
// to resume without losing progress past the last checkpoint - every
// domain's adapter parameters, its Adam state and its data cursor, the phase
// index, the step and the membership epoch (docs/elastic.md).
//
// File format (one file per checkpoint, `<dir>/ckpt-<phase>-<step>.iakckpt`):
//   "IAKCKPT1" | uint64 header length | proto::CheckpointHeader |
//   body: per domain, its float32 params then its Adam blob |
//   uint32 CRC-32C of everything before it.
// Integers are little-endian. Files are written atomically (temporary file,
// fsync, rename, fsync of the directory), so a crash leaves either the old
// set of files or the new one, never a partial checkpoint under a final name.
//
// Loading checks the magic, the sizes and the checksum; a truncated or
// corrupt file is refused with a DataLoss error naming it, and
// CheckpointStore::LoadLatest() falls back to the previous good one.
//
// Thread-safety: a CheckpointStore is not thread-safe; one writer per
// directory (the job's rank 0 worker).
#ifndef IAK_WORKER_CHECKPOINT_H_
#define IAK_WORKER_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "data/batcher.h"
#include "proto/checkpoint.pb.h"

namespace iak::worker {

struct DomainCheckpoint {
  std::string domain;
  std::vector<float> params;  // the adapter's flat parameters (IakModule::params())
  std::string adam_state;     // model::Adam::Serialize()
  // Where the domain's next batch starts in its global epoch order (all
  // workers together; docs/elastic.md explains the re-split).
  data::BatchCursor cursor;
  // Validation while training: the domain's record (best parameters too).
  proto::UnitValidation validation;
  int64_t steps = 0;    // steps the domain trained (the whole group)
  int64_t samples = 0;  // samples the writing rank trained for it
};

struct Checkpoint {
  std::string job_name;
  int64_t membership_epoch = 0;
  int32_t phase_index = 0;  // index into the job's phase plan
  int64_t step = 0;         // steps done in that phase
  std::vector<DomainCheckpoint> domains;
};

// Single files. Write is atomic as described above; Read returns DataLoss
// naming `path` for a truncated or corrupt file, NotFound when it is absent,
// IoError for other OS failures.
[[nodiscard]] Status WriteCheckpointFile(const std::string& path, const Checkpoint& checkpoint);
[[nodiscard]] StatusOr<Checkpoint> ReadCheckpointFile(const std::string& path);

struct CheckpointStoreOptions {
  std::string dir;    // created if missing
  int keep_last = 3;  // older checkpoints are deleted after each save; >= 1
};

// A checkpoint loaded by LoadLatest(), with the newer files it had to refuse.
struct LoadedCheckpoint {
  Checkpoint checkpoint;
  std::string path;
  std::vector<std::pair<std::string, Status>> refused;  // newest first
};

class CheckpointStore {
 public:
  explicit CheckpointStore(CheckpointStoreOptions options);

  // Writes `checkpoint` and deletes all but the newest keep_last files.
  // Returns the new file's path.
  [[nodiscard]] StatusOr<std::string> Save(const Checkpoint& checkpoint);

  // The newest checkpoint that reads back intact; each newer one that does
  // not is logged (naming the file and why) and listed in `refused`.
  // NotFound when the directory holds no checkpoint; DataLoss listing every
  // file when none is intact.
  [[nodiscard]] StatusOr<LoadedCheckpoint> LoadLatest() const;

  // Checkpoint files in the directory, oldest first (by phase, then step).
  [[nodiscard]] StatusOr<std::vector<std::string>> List() const;

  // `<dir>/ckpt-<phase, 4 digits>-<step, 12 digits>.iakckpt`.
  std::string PathFor(int32_t phase_index, int64_t step) const;

 private:
  CheckpointStoreOptions options_;
};

// CRC-32C (Castagnoli) of `data`; exposed for tests.
uint32_t Crc32c(const void* data, size_t n);

}  // namespace iak::worker

#endif  // IAK_WORKER_CHECKPOINT_H_
