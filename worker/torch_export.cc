#include "worker/torch_export.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <utility>

#include "common/file_util.h"
#include "common/report_text.h"
#include "embedding/snapshot_tools.h"
#include "worker/model_factory.h"
#include "worker/key_biases.h"
#include "worker/new_key_rows.h"

namespace iak::worker {
namespace {

// "rows-00002-of-00005.safetensors"
std::string RowsFileName(int64_t index, int64_t count) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "rows-%05lld-of-%05lld.safetensors",
                static_cast<long long>(index), static_cast<long long>(count));
  return buf;
}

// Keys [begin, end) of `table` as a U64 tensor [end - begin] named `name`.
ExportTensor RowKeysTensor(const std::string& name, const embedding::RowTable& table,
                           int64_t begin, int64_t end) {
  ExportTensor keys;
  keys.name = name;
  keys.shape = {end - begin};
  keys.is_u64 = true;
  keys.u64_values.assign(table.keys.begin() + begin, table.keys.begin() + end);
  return keys;
}

// Rows [begin, end) of `table` as an F32 tensor [end - begin, dim].
ExportTensor RowsTensor(const std::string& name, const embedding::RowTable& table,
                        int64_t begin, int64_t end) {
  const size_t dim = static_cast<size_t>(table.dim);
  ExportTensor weight;
  weight.name = name;
  weight.shape = {end - begin, table.dim};
  weight.values.assign(table.values.begin() + begin * dim, table.values.begin() + end * dim);
  return weight;
}

// The sorted position of `key` in `table` (sorted by SortRowsForTorch), or
// -1 when the table lacks it.
int64_t FindSortedRow(const embedding::RowTable& table, uint64_t key) {
  const auto less = [](uint64_t a, uint64_t b) {
    return static_cast<int64_t>(a) < static_cast<int64_t>(b);
  };
  const auto it = std::lower_bound(table.keys.begin(), table.keys.end(), key, less);
  if (it == table.keys.end() || *it != key) return -1;
  return it - table.keys.begin();
}

// The new-key rows (worker/new_key_rows.h) a job trained under `adapter`, in
// the row order of the snapshot table; an empty table (dim 0) when it trained
// none. They must have the snapshot's dim and hold no key the snapshot has
// (`snapshot`, sorted): in both predict and PyTorch a new-key row only fills
// in for a key the snapshot lacks, so an overlap means a damaged file.
StatusOr<embedding::RowTable> AdapterNewRows(const std::string& adapter_dir,
                                             const std::string& adapter,
                                             const embedding::RowTable& snapshot) {
  embedding::RowTable table;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<NewKeyRows> rows, LoadNewKeyRowsIfAny(adapter_dir, adapter));
  if (rows == nullptr) return table;
  const std::string path = NewKeyRowsPath(adapter_dir, adapter);
  if (rows->dim() != snapshot.dim) {
    return InvalidArgumentError(path + " holds rows of dim " + std::to_string(rows->dim()) +
                                " but the snapshot has dim " + std::to_string(snapshot.dim) +
                                ": the rows belong to another model");
  }
  for (uint64_t key : rows->keys()) {
    if (FindSortedRow(snapshot, key) >= 0) {
      return InvalidArgumentError(path + " holds a row for key " + std::to_string(key) +
                                  ", which the snapshot has: the rows belong to another "
                                  "snapshot (rerun the job on this one)");
    }
  }
  table.dim = rows->dim();
  table.keys = rows->keys();
  table.values = rows->values();
  SortRowsForTorch(&table);
  return table;
}

// The key biases (worker/key_biases.h) a job trained under `adapter` as a
// table of width 1, in the order of the module's lookups (SortRowsForTorch);
// empty when it trained none.
StatusOr<embedding::RowTable> AdapterKeyBiases(const std::string& adapter_dir,
                                               const std::string& adapter) {
  embedding::RowTable table;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<KeyBiases> biases, LoadKeyBiasesIfAny(adapter_dir, adapter));
  if (biases == nullptr) return table;
  table.dim = 1;
  table.keys = biases->keys();
  table.values = biases->values();
  SortRowsForTorch(&table);
  return table;
}

// Per adapter: how many new-key rows and key biases it trained.
struct AdapterKeyCounts {
  int64_t new_rows = 0;
  int64_t key_biases = 0;
};

// The JSON "config" of model.safetensors: what iakps.torch.load_model builds.
std::string ConfigJson(const ExportSource& source, int64_t num_rows,
                       const std::vector<std::string>& row_files,
                       const std::map<std::string, AdapterKeyCounts>& counts) {
  const model::BaseModelConfig& c = source.base->config();
  const proto::ModelManifest& m = source.model_dir.manifest;
  std::string fields = "[";
  for (int f = 0; f < c.num_fields; ++f) {
    // Pooling as pre-training recorded it; a manifest without fields
    // (an imported table) pools by sum, the default.
    const bool known = m.fields_size() == c.num_fields;
    const std::string name = known ? m.fields(f).name() : "field" + std::to_string(f);
    const std::string pooling =
        known && m.fields(f).pooling() == "mean" ? "mean" : "sum";
    fields += (f ? "," : "") + std::string("{\"name\":") + JsonQuote(name) +
              ",\"pooling\":" + JsonQuote(pooling) + "}";
  }
  fields += "]";
  std::string adapters = "[";
  std::map<std::string, int> index_of;
  for (const auto& [name, adapter] : source.adapters) {
    index_of[name] = static_cast<int>(index_of.size());
    std::string config = AdapterConfigJson(adapter.config());
    adapters += (adapters.size() > 1 ? "," : "") + std::string("{\"name\":") + JsonQuote(name) +
                ",\"new_rows\":" + std::to_string(counts.at(name).new_rows) +
                ",\"key_biases\":" + std::to_string(counts.at(name).key_biases) + "," +
                config.substr(1);
  }
  adapters += "]";
  std::string domains = "{";
  for (const AdapterPlanRow& r : source.domain_adapters) {
    domains += (domains.size() > 1 ? "," : "") + JsonQuote(r.domain) + ":" +
               (r.mode == "base" ? std::string("null") : std::to_string(index_of[r.adapter]));
  }
  domains += "}";
  std::string files = "[";
  for (const std::string& f : row_files) files += (files.size() > 1 ? "," : "") + JsonQuote(f);
  files += "]";
  return "{\"format\":\"iak-torch-v1\",\"snapshot_id\":" + JsonQuote(m.snapshot_id()) +
         ",\"embedding_dim\":" + std::to_string(c.embedding_dim) + ",\"fields\":" + fields +
         ",\"bottom_hidden\":" + JsonIntList(c.bottom_hidden) +
         ",\"tower_hidden\":" + JsonIntList(c.tower_hidden) +
         ",\"num_tasks\":" + std::to_string(c.num_tasks) + ",\"insertion\":" +
         JsonQuote(source.adapters_on_x ? "x" : "h") + ",\"adapters\":" + adapters +
         ",\"domain_adapters\":" + domains + ",\"num_rows\":" + std::to_string(num_rows) +
         ",\"row_files\":" + files + "}";
}

Status WriteTensors(const std::string& path, const std::vector<ExportTensor>& tensors,
                    const std::map<std::string, std::string>& metadata,
                    TorchExportReport* report) {
  IAK_ASSIGN_OR_RETURN(std::string blob, EncodeSafetensors(tensors, metadata));
  IAK_RETURN_IF_ERROR(WriteFileAtomically(path, blob));
  report->files.push_back(path);
  report->bytes += blob.size();
  return Status::Ok();
}

}  // namespace

std::vector<ExportTensor> ToLinearLayout(std::vector<ExportTensor> tensors) {
  for (ExportTensor& t : tensors) {
    const bool weight = t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0;
    if (!weight || t.shape.size() != 2 || t.is_u64) continue;
    const int64_t in = t.shape[0];
    const int64_t out = t.shape[1];
    std::vector<float> transposed(t.values.size());
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t o = 0; o < out; ++o) transposed[o * in + i] = t.values[i * out + o];
    }
    t.values = std::move(transposed);
    t.shape = {out, in};
  }
  return tensors;
}

void SortRowsForTorch(embedding::RowTable* table) {
  std::vector<size_t> order(table->keys.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [table](size_t a, size_t b) {
    return static_cast<int64_t>(table->keys[a]) < static_cast<int64_t>(table->keys[b]);
  });
  const size_t dim = static_cast<size_t>(table->dim);
  std::vector<uint64_t> keys(order.size());
  std::vector<float> values(table->values.size());
  for (size_t i = 0; i < order.size(); ++i) {
    keys[i] = table->keys[order[i]];
    std::copy_n(table->values.begin() + order[i] * dim, dim, values.begin() + i * dim);
  }
  table->keys = std::move(keys);
  table->values = std::move(values);
}

StatusOr<TorchExportReport> ExportTorchModel(const proto::JobSpec& spec,
                                             const std::string& out_dir,
                                             const TorchExportOptions& options) {
  if (options.rows_per_file <= 0) {
    return InvalidArgumentError("rows per file must be positive, not " +
                                std::to_string(options.rows_per_file));
  }
  if (!IsAdapterMethod(spec.method())) {
    return FailedPreconditionError(
        "the PyTorch export covers adapter jobs (methods iak and plain); job " + spec.name() +
        " trained method '" + spec.method() +
        "': export without --torch, whose model.safetensors holds each domain's fine-tuned "
        "dense model (docs/export.md)");
  }
  IAK_ASSIGN_OR_RETURN(ExportSource source, LoadExportSource(spec));
  IAK_ASSIGN_OR_RETURN(embedding::RowTable rows, embedding::ReadSnapshotRows(spec.model_dir()));
  SortRowsForTorch(&rows);
  const int64_t num_rows = static_cast<int64_t>(rows.keys.size());
  const int64_t num_files = std::max<int64_t>(1, (num_rows + options.rows_per_file - 1) /
                                                     options.rows_per_file);
  std::vector<std::string> row_files;
  for (int64_t k = 0; k < num_files; ++k) row_files.push_back(RowsFileName(k, num_files));

  IAK_RETURN_IF_ERROR(CreateDirectories(out_dir));
  TorchExportReport report;
  report.dir = out_dir;
  report.num_rows = num_rows;
  std::vector<ExportTensor> dense = ToLinearLayout(BaseModelTensors(*source.base));
  std::map<std::string, AdapterKeyCounts> counts;
  int index = 0;
  for (const auto& [name, adapter] : source.adapters) {
    const std::string prefix = "adapters." + std::to_string(index++) + ".";
    std::vector<ExportTensor> more = ToLinearLayout(AdapterTensors(adapter, prefix));
    IAK_ASSIGN_OR_RETURN(embedding::RowTable own,
                         AdapterNewRows(spec.output_dir() + "/adapters", name, rows));
    const int64_t n = static_cast<int64_t>(own.keys.size());
    counts[name].new_rows = n;
    report.num_new_rows += n;
    if (n > 0) {
      more.push_back(RowKeysTensor(prefix + "new_rows.keys", own, 0, n));
      more.push_back(RowsTensor(prefix + "new_rows.weight", own, 0, n));
    }
    IAK_ASSIGN_OR_RETURN(embedding::RowTable biases,
                         AdapterKeyBiases(spec.output_dir() + "/adapters", name));
    const int64_t b = static_cast<int64_t>(biases.keys.size());
    counts[name].key_biases = b;
    if (b > 0) {
      more.push_back(RowKeysTensor(prefix + "key_biases.keys", biases, 0, b));
      more.push_back(RowsTensor(prefix + "key_biases.weight", biases, 0, b));
    }
    dense.insert(dense.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  IAK_RETURN_IF_ERROR(WriteTensors(
      out_dir + "/model.safetensors", dense,
      {{"format", "iak-torch-v1"}, {"config", ConfigJson(source, num_rows, row_files, counts)}},
      &report));
  for (int64_t k = 0; k < num_files; ++k) {
    const int64_t begin = k * options.rows_per_file;
    const int64_t end = std::min(num_rows, begin + options.rows_per_file);
    const ExportTensor keys = RowKeysTensor("row_keys", rows, begin, end);
    const ExportTensor weight = RowsTensor("embedding_bags.rows.weight", rows, begin, end);
    IAK_RETURN_IF_ERROR(WriteTensors(out_dir + "/" + row_files[k], {keys, weight},
                                     {{"format", "iak-torch-rows-v1"},
                                      {"row_offset", std::to_string(begin)},
                                      {"num_rows", std::to_string(num_rows)}},
                                     &report));
  }
  return report;
}

}  // namespace iak::worker
