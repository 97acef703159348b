// TorchExport: a finished adapter job's whole model in PyTorch's layouts, so
// that iakps.torch.load_model (python/iakps/torch.py) rebuilds it as a
// torch.nn.Module scoring as `iak predict` does. Layout and names:
// docs/export.md "PyTorch export".
//
//   <dir>/model.safetensors       dense layers as torch.nn.Linear (weight
//                                 [out, in], bias [out]) and every adapter,
//                                 with the new-key rows it trained (if any)
//                                 as "adapters.<i>.new_rows.keys" U64 [n] and
//                                 "adapters.<i>.new_rows.weight" F32 [n, dim];
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
// to its row. The table is the model directory's snapshot, shared by every
// domain; an adapter's new-key rows (keys the snapshot lacks, trained for
// that adapter's domains: worker/new_key_rows.h) stay with the adapter,
// because two domains may have trained different rows for the same new key.
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
};

struct TorchExportReport {
  std::string dir;
  std::vector<std::string> files;  // model.safetensors first, then the rows files
  int64_t num_rows = 0;      // of the snapshot table
  int64_t num_new_rows = 0;  // of all adapters together
  size_t bytes = 0;
};

// The tensors in torch.nn.Linear layout: every 2-D "*.weight" [in, out]
// transposed to [out, in]; biases unchanged.
std::vector<ExportTensor> ToLinearLayout(std::vector<ExportTensor> tensors);

// Sorts `table`'s rows by key read as int64 (see above), in place.
void SortRowsForTorch(embedding::RowTable* table);

// Writes LoadExportSource(spec) and its model directory's embedding rows to
// out_dir as above. Errors as LoadExportSource and ReadSnapshotRows (a
// damaged shard is DataLoss naming it), LoadNewKeyRows's, InvalidArgument
// for bad options or new-key rows that do not fit the snapshot (another dim,
// a key the snapshot has), FailedPrecondition for adapters not on h, IoError
// when a file cannot be written.
[[nodiscard]] StatusOr<TorchExportReport> ExportTorchModel(const proto::JobSpec& spec,
                                                           const std::string& out_dir,
                                                           const TorchExportOptions& options);

}  // namespace iak::worker

#endif  // IAK_WORKER_TORCH_EXPORT_H_
