#include "embedding/synthetic_table.h"

#include <memory>
#include <vector>

#include "embedding/snapshot_stream_writer.h"

namespace iak::embedding {

void SyntheticRow(uint64_t seed, uint64_t index, int dim, float* out) {
  uint64_t state = Mix64(SyntheticKey(seed, index) ^ 0x7f4a7c159e3779b9ULL);
  for (int j = 0; j < dim; ++j) {
    state = Mix64(state);
    // The top 24 bits as a float in [0, 1), then mapped to [-1, 1).
    out[j] = static_cast<float>(state >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}

StatusOr<proto::ModelManifest> SynthesizeSnapshot(const SyntheticSnapshotOptions& options) {
  if (options.rows == 0 || options.rows >= kMaxSyntheticRows) {
    return InvalidArgumentError("a synthetic table needs 1 to " +
                                std::to_string(kMaxSyntheticRows - 1) + " rows, got " +
                                std::to_string(options.rows));
  }
  if (options.dim <= 0) {
    return InvalidArgumentError("dim must be positive, got " + std::to_string(options.dim));
  }
  SnapshotStreamOptions stream;
  stream.embedding_dim = options.dim;
  stream.num_shards = options.num_shards;
  stream.dtype = options.dtype;
  stream.overwrite = options.overwrite;
  stream.base_manifest.set_data_description("synthetic rows: seed " + std::to_string(options.seed) +
                                            ", " + std::to_string(options.rows) +
                                            " rows (iak snapshot synth)");
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotStreamWriter> writer,
                       SnapshotStreamWriter::Open(options.out_dir, std::move(stream)));
  std::vector<float> row(static_cast<size_t>(options.dim));
  for (uint64_t i = 0; i < options.rows; ++i) {
    SyntheticRow(options.seed, i, options.dim, row.data());
    IAK_RETURN_IF_ERROR(writer->Add(SyntheticKey(options.seed, i), row.data()));
    if (options.progress && (i + 1) % options.progress_every == 0) options.progress(i + 1);
  }
  IAK_ASSIGN_OR_RETURN(proto::ModelManifest manifest, writer->Finish());
  if (options.progress) options.progress(options.rows);
  return manifest;
}

}  // namespace iak::embedding
