// TorchExport: a finished adapter job's whole model in PyTorch's layouts, so
// that iakps.torch.load_model (python/iakps/torch.py) rebuilds it as a
// torch.nn.Module scoring as `iak predict` does. Layout and names:
// docs/export.md "PyTorch export".
//
//   <dir>/model.safetensors       dense layers as torch.nn.Linear (weight
//                                 [out, in], bias [out]) and every adapter;
//                                 metadata "config" describes the model;
//   <dir>/rows-0000K-of-0000N.safetensors
//                                 the embedding table, one contiguous block of
//                                 rows per file: "row_keys" U64 [n] and
//                                 "embedding_bags.rows.weight" F32 [n, dim]
//                                 (a TorchRec EmbeddingBagCollection table
//                                 "rows", split row-wise).
//
// Rows are in ascending order of their key read as a signed int64 (the bits
// are the uint64 key), so torch.searchsorted over the int64 view maps a key
// to its row. The table is the model directory's snapshot plus
// TorchExportOptions::extra_rows: the seam for a method that learns rows of
// keys outside the snapshot (none in the tree does yet).
//
// Thread-safety: free functions, no shared state.
#ifndef IAK_WORKER_TORCH_EXPORT_H_
#define IAK_WORKER_TORCH_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/row_table.h"
#include "proto/job_spec.pb.h"
#include "worker/exporter.h"

namespace iak::worker {

struct TorchExportOptions {
  // Rows in each rows file (the last holds the rest). Default 1,048,576
  // (64 MiB at dim 16). Must be positive.
  int64_t rows_per_file = int64_t{1} << 20;
  // Rows of keys the snapshot lacks (new-key rows a method learned), merged
  // into the table; their dim must be the snapshot's. A key in the snapshot
  // or twice here is InvalidArgument. Not owned; may be empty.
  std::vector<const embedding::RowTable*> extra_rows;
};

struct TorchExportReport {
  std::string dir;
  std::vector<std::string> files;  // model.safetensors first, then the rows files
  int64_t num_rows = 0;
  size_t bytes = 0;
};

// The tensors in torch.nn.Linear layout: every 2-D "*.weight" [in, out]
// transposed to [out, in]; biases unchanged.
std::vector<ExportTensor> ToLinearLayout(std::vector<ExportTensor> tensors);

// Sorts `table`'s rows by key read as int64 (see above), in place.
void SortRowsForTorch(embedding::RowTable* table);

// Writes LoadExportSource(spec) and its model directory's embedding rows to
// out_dir as above. Errors as LoadExportSource and ReadSnapshotRows (a
// damaged shard is DataLoss naming it), InvalidArgument for bad options,
// IoError when a file cannot be written.
[[nodiscard]] StatusOr<TorchExportReport> ExportTorchModel(const proto::JobSpec& spec,
                                                           const std::string& out_dir,
                                                           const TorchExportOptions& options);

}  // namespace iak::worker

#endif  // IAK_WORKER_TORCH_EXPORT_H_
