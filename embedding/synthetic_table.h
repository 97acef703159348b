// A synthetic embedding table, for benchmarks and scale runs: row i of a
// table with seed s has key SyntheticKey(s, i) (distinct for distinct i <
// 2^32, spread over the whole 64-bit space) and values SyntheticRow(s, i):
// pure functions of (seed, index), so a reader can regenerate any row it
// needs to check without keeping the table (the pull benchmark draws keys
// and checks replies this way).
//
// SynthesizeSnapshot streams such a table into a model directory
// (SnapshotStreamWriter): memory stays bounded whatever the row count, so
// `iak snapshot synth --rows=100000000` runs on a machine that could not hold
// the table.
//
// Thread-safety: pure functions.
#ifndef IAK_EMBEDDING_SYNTHETIC_TABLE_H_
#define IAK_EMBEDDING_SYNTHETIC_TABLE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "common/keys.h"
#include "common/status.h"
#include "embedding/row_codec.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

// Rows are numbered with 32 bits per seed.
inline constexpr uint64_t kMaxSyntheticRows = uint64_t{1} << 32;

inline uint64_t SyntheticKey(uint64_t seed, uint64_t index) {
  return Mix64(seed * kMaxSyntheticRows + index);
}

// dim values, uniform in [-1, 1), from (seed, index) alone.
void SyntheticRow(uint64_t seed, uint64_t index, int dim, float* out);

struct SyntheticSnapshotOptions {
  std::string out_dir;
  uint64_t rows = 0;
  int dim = 16;
  RowDtype dtype = RowDtype::kFloat32;
  int num_shards = 1;
  uint64_t seed = 1;
  bool overwrite = false;
  // Called every `progress_every` rows with the rows written so far (and once
  // at the end); may be empty.
  std::function<void(uint64_t rows_written)> progress;
  uint64_t progress_every = 10'000'000;
};

// Writes the synthetic table of `options` as a model directory (no dense
// weights) and returns its manifest. InvalidArgument: rows 0 or at least
// kMaxSyntheticRows, dim not positive; errors of SnapshotStreamWriter.
[[nodiscard]] StatusOr<proto::ModelManifest> SynthesizeSnapshot(
    const SyntheticSnapshotOptions& options);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SYNTHETIC_TABLE_H_
