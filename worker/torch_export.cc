#include "worker/torch_export.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <unordered_set>
#include <utility>

#include "common/file_util.h"
#include "embedding/snapshot_tools.h"

namespace iak::worker {
namespace {

// "rows-00002-of-00005.safetensors"
std::string RowsFileName(int64_t index, int64_t count) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "rows-%05lld-of-%05lld.safetensors",
                static_cast<long long>(index), static_cast<long long>(count));
  return buf;
}

// The snapshot's rows plus the extra (new-key) rows, each key once.
StatusOr<embedding::RowTable> MergedRows(const std::string& model_dir,
                                         const TorchExportOptions& options) {
  IAK_ASSIGN_OR_RETURN(embedding::RowTable table, embedding::ReadSnapshotRows(model_dir));
  if (options.extra_rows.empty()) return table;
  std::unordered_set<uint64_t> seen(table.keys.begin(), table.keys.end());
  for (const embedding::RowTable* extra : options.extra_rows) {
    if (extra->dim != table.dim) {
      return InvalidArgumentError("new-key rows have dim " + std::to_string(extra->dim) +
                                  " but the snapshot in " + model_dir + " has dim " +
                                  std::to_string(table.dim));
    }
    for (size_t i = 0; i < extra->keys.size(); ++i) {
      if (!seen.insert(extra->keys[i]).second) {
        return InvalidArgumentError("new-key row " + std::to_string(extra->keys[i]) +
                                    " is already in the table (snapshot " + model_dir +
                                    " or an earlier new-key row)");
      }
      table.keys.push_back(extra->keys[i]);
      table.values.insert(table.values.end(), extra->values.begin() + i * extra->dim,
                          extra->values.begin() + (i + 1) * extra->dim);
    }
  }
  return table;
}

// The JSON "config" of model.safetensors: what iakps.torch.load_model builds.
std::string ConfigJson(const ExportSource& source, int64_t num_rows,
                       const std::vector<std::string>& row_files) {
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
                "," + config.substr(1);
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
         ",\"num_tasks\":" + std::to_string(c.num_tasks) + ",\"adapters\":" + adapters +
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
  IAK_ASSIGN_OR_RETURN(ExportSource source, LoadExportSource(spec));
  IAK_ASSIGN_OR_RETURN(embedding::RowTable rows, MergedRows(spec.model_dir(), options));
  SortRowsForTorch(&rows);
  const int64_t num_rows = static_cast<int64_t>(rows.keys.size());
  const int64_t num_files = std::max<int64_t>(1, (num_rows + options.rows_per_file - 1) /
                                                     options.rows_per_file);
  std::vector<std::string> row_files;
  for (int64_t k = 0; k < num_files; ++k) row_files.push_back(RowsFileName(k, num_files));

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return IoError("cannot create " + out_dir + ": " + ec.message());
  TorchExportReport report;
  report.dir = out_dir;
  report.num_rows = num_rows;
  std::vector<ExportTensor> dense = ToLinearLayout(BaseModelTensors(*source.base));
  int index = 0;
  for (const auto& [name, adapter] : source.adapters) {
    std::vector<ExportTensor> more = ToLinearLayout(
        AdapterTensors(adapter, "adapters." + std::to_string(index++) + "."));
    dense.insert(dense.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  IAK_RETURN_IF_ERROR(WriteTensors(
      out_dir + "/model.safetensors", dense,
      {{"format", "iak-torch-v1"}, {"config", ConfigJson(source, num_rows, row_files)}},
      &report));
  const size_t dim = static_cast<size_t>(rows.dim);
  for (int64_t k = 0; k < num_files; ++k) {
    const int64_t begin = k * options.rows_per_file;
    const int64_t end = std::min(num_rows, begin + options.rows_per_file);
    ExportTensor keys;
    keys.name = "row_keys";
    keys.shape = {end - begin};
    keys.is_u64 = true;
    keys.u64_values.assign(rows.keys.begin() + begin, rows.keys.begin() + end);
    ExportTensor weight;
    weight.name = "embedding_bags.rows.weight";
    weight.shape = {end - begin, rows.dim};
    weight.values.assign(rows.values.begin() + begin * dim, rows.values.begin() + end * dim);
    IAK_RETURN_IF_ERROR(WriteTensors(out_dir + "/" + row_files[k], {keys, weight},
                                     {{"format", "iak-torch-rows-v1"},
                                      {"row_offset", std::to_string(begin)},
                                      {"num_rows", std::to_string(num_rows)}},
                                     &report));
  }
  return report;
}

}  // namespace iak::worker
