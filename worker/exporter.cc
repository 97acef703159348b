#include "worker/exporter.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "common/file_util.h"
#include "common/report_text.h"
#include "embedding/model_directory.h"
#include "embedding/safetensors_file.h"
#include "model/mlp.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_model.h"
#include "worker/adapter_store.h"
#include "worker/dense_models.h"
#include "worker/domain_file_name.h"
#include "worker/model_factory.h"
#include "worker/key_biases.h"
#include "worker/new_key_rows.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this writer copies floats as they are");

namespace iak::worker {
namespace {

// Appends the (W, b) tensors of each layer of an MLP with `dims` whose
// parameters start at `params`.
void AppendMlp(const std::vector<int>& dims, const float* params, const std::string& prefix,
               std::vector<ExportTensor>* out) {
  size_t offset = 0;
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    const int in = dims[i];
    const int o = dims[i + 1];
    const size_t nw = static_cast<size_t>(in) * o;
    ExportTensor w;
    w.name = prefix + std::to_string(i) + ".weight";
    w.shape = {in, o};
    w.values.assign(params + offset, params + offset + nw);
    ExportTensor b;
    b.name = prefix + std::to_string(i) + ".bias";
    b.shape = {o};
    b.values.assign(params + offset + nw, params + offset + nw + o);
    out->push_back(std::move(w));
    out->push_back(std::move(b));
    offset += nw + o;
  }
}

}  // namespace

std::vector<ExportTensor> BaseModelTensors(const model::BaseModel& base) {
  const model::BaseModelConfig& c = base.config();
  std::vector<ExportTensor> out;
  std::vector<int> bottom{c.input_dim()};
  bottom.insert(bottom.end(), c.bottom_hidden.begin(), c.bottom_hidden.end());
  AppendMlp(bottom, base.params().data() + base.bottom_param_range().begin, "bottom.", &out);
  for (int t = 0; t < c.num_tasks; ++t) {
    std::vector<int> tower{c.h_dim()};
    tower.insert(tower.end(), c.tower_hidden.begin(), c.tower_hidden.end());
    tower.push_back(1);
    AppendMlp(tower, base.params().data() + base.tower_param_range(t).begin,
              "tower." + std::to_string(t) + ".", &out);
  }
  return out;
}

std::vector<ExportTensor> AdapterTensors(const model::IakModule& adapter,
                                         const std::string& prefix) {
  const model::IakConfig& c = adapter.config();
  std::vector<ExportTensor> out;
  std::vector<int> encoder{c.adapted_width()};
  encoder.insert(encoder.end(), c.encoder_hidden.begin(), c.encoder_hidden.end());
  encoder.push_back(c.plain_adapter ? c.latent_dim : 2 * c.latent_dim);
  std::vector<int> decoder{c.latent_dim};
  decoder.insert(decoder.end(), c.decoder_hidden.begin(), c.decoder_hidden.end());
  decoder.push_back(c.adapted_width());
  AppendMlp(encoder, adapter.params().data() + adapter.encoder_param_range().begin,
            prefix + "encoder.", &out);
  AppendMlp(decoder, adapter.params().data() + adapter.decoder_param_range().begin,
            prefix + "decoder.", &out);
  return out;
}

StatusOr<std::string> EncodeSafetensors(const std::vector<ExportTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  std::string header = "{";
  size_t offset = 0;
  for (const ExportTensor& t : tensors) {
    if (t.name.empty() || t.name.rfind("__", 0) == 0 || !names.insert(t.name).second) {
      return InvalidArgumentError("safetensors: bad or duplicate tensor name '" + t.name + "'");
    }
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    const size_t values = t.is_u64 ? t.u64_values.size() : t.values.size();
    if (count != static_cast<int64_t>(values)) {
      return InvalidArgumentError("safetensors: tensor " + t.name + " has " +
                                  std::to_string(values) + " values but its shape holds " +
                                  std::to_string(count));
    }
    std::string shape = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      shape += (i ? "," : "") + std::to_string(t.shape[i]);
    }
    shape += "]";
    const size_t end = offset + (t.is_u64 ? values * sizeof(uint64_t) : values * sizeof(float));
    header += JsonQuote(t.name) + ":{\"dtype\":\"" + (t.is_u64 ? "U64" : "F32") +
              "\",\"shape\":" + shape +
              ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]},";
    offset = end;
  }
  header += "\"__metadata__\":{";
  bool first = true;
  for (const auto& [key, value] : metadata) {
    header += (first ? "" : ",") + JsonQuote(key) + ":" + JsonQuote(value);
    first = false;
  }
  header += "}}";
  // Pad so the data starts 8-byte aligned (what the reference writer does).
  while ((8 + header.size()) % 8 != 0) header += ' ';
  std::string blob(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(blob.data(), &n, sizeof(n));
  blob += header;
  blob.reserve(blob.size() + offset);
  for (const ExportTensor& t : tensors) {
    if (t.is_u64) {
      blob.append(reinterpret_cast<const char*>(t.u64_values.data()),
                  t.u64_values.size() * sizeof(uint64_t));
    } else {
      blob.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
    }
  }
  return blob;
}

StatusOr<SafetensorsFile> DecodeSafetensors(const std::string& blob, const std::string& what) {
  StatusOr<embedding::SafetensorsFile> parsed = embedding::ParseSafetensors(blob, what);
  if (!parsed.ok()) {
    return DataLossError("not a valid safetensors file: " + parsed.status().message());
  }
  SafetensorsFile file;
  file.metadata = parsed->metadata;
  std::vector<std::pair<uint64_t, ExportTensor>> ordered;
  for (const auto& [name, tensor] : parsed->tensors) {
    ExportTensor t;
    t.name = name;
    for (uint64_t d : tensor.shape) t.shape.push_back(static_cast<int64_t>(d));
    if (tensor.dtype != "F32") {
      return DataLossError(what + ": tensor " + name + " is " + tensor.dtype + ", not F32");
    }
    IAK_ASSIGN_OR_RETURN(t.values, parsed->Floats(name));
    ordered.emplace_back(tensor.begin, std::move(t));
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [begin, t] : ordered) file.tensors.push_back(std::move(t));
  return file;
}

std::string AdapterConfigJson(const model::IakConfig& a) {
  return "{\"input_dim\":" + std::to_string(a.input_dim) +
         ",\"latent_dim\":" + std::to_string(a.latent_dim) +
         ",\"encoder_hidden\":" + JsonIntList(a.encoder_hidden) +
         ",\"decoder_hidden\":" + JsonIntList(a.decoder_hidden) +
         ",\"plain_adapter\":" + (a.plain_adapter ? "true" : "false") +
         // The columns of x it reads and adapts (JobSpec.iak.fields); absent = all.
         (a.columns.empty() ? "" : ",\"columns\":" + JsonIntList(a.columns)) + "}";
}

namespace {

// Which adapter serves each domain: from the plan file when the job wrote one
// (shared adapters and base-model domains), else one <domain>.iak per domain
// found in `adapter_dir` (older runs).
StatusOr<std::vector<AdapterPlanRow>> DomainAdapters(const std::string& adapter_dir) {
  StatusOr<std::vector<AdapterPlanRow>> plan = LoadAdapterPlan(adapter_dir);
  if (plan.ok()) {
    if (plan->empty()) {
      return InvalidArgumentError(AdapterPlanPath(adapter_dir) +
                                  " lists no domain: rerun the job (iak submit) to rewrite it");
    }
    return *plan;
  }
  if (plan.status().code() != StatusCode::kNotFound) return plan.status();
  std::vector<AdapterPlanRow> rows;
  for (const std::string& domain : DomainsWithFiles(adapter_dir, ".iak")) {
    AdapterPlanRow r;
    r.domain = domain;
    r.adapter = domain;
    rows.push_back(r);
  }
  if (rows.empty()) {
    return NotFoundError("no adapters (*.iak) in " + adapter_dir +
                         ": run the job (iak submit) before exporting it");
  }
  return rows;
}

// `tensor`, whose rows belong to `keys`, with the keys (uint64, which F32
// cannot hold) as a JSON list of decimal strings in the metadata entry of
// the tensor's name.
void AddKeyedTensor(ExportTensor tensor, const std::vector<uint64_t>& keys,
                    std::vector<ExportTensor>* tensors,
                    std::map<std::string, std::string>* metadata) {
  std::string list = "[";
  for (uint64_t key : keys) list += (list.size() > 1 ? "," : "") + JsonQuote(std::to_string(key));
  (*metadata)[tensor.name] = list + "]";
  tensors->push_back(std::move(tensor));
}

// A unit's new-key rows (worker/new_key_rows.h) and key biases
// (worker/key_biases.h), when the job trained them: the F32 tensors
// iak.<name>.new_key_rows [keys, dim] and iak.<name>.key_biases [keys], each
// with its keys in the metadata.
Status AddKeyParameters(const std::string& adapter_dir, const std::string& name,
                        std::vector<ExportTensor>* tensors,
                        std::map<std::string, std::string>* metadata) {
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<NewKeyRows> rows, LoadNewKeyRowsIfAny(adapter_dir, name));
  if (rows != nullptr) {
    ExportTensor tensor;
    tensor.name = "iak." + name + ".new_key_rows";
    tensor.shape = {static_cast<int64_t>(rows->num_rows()), rows->dim()};
    tensor.values = rows->values();
    AddKeyedTensor(std::move(tensor), rows->keys(), tensors, metadata);
  }
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<KeyBiases> biases, LoadKeyBiasesIfAny(adapter_dir, name));
  if (biases != nullptr) {
    ExportTensor tensor;
    tensor.name = "iak." + name + ".key_biases";
    tensor.shape = {static_cast<int64_t>(biases->num_values())};
    tensor.values = biases->values();
    AddKeyedTensor(std::move(tensor), biases->keys(), tensors, metadata);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ExportSource> LoadExportSource(const proto::JobSpec& spec) {
  ExportSource source;
  IAK_ASSIGN_OR_RETURN(source.adapters_on_x, InferenceAdaptersOnX(spec, "iak export"));
  IAK_ASSIGN_OR_RETURN(source.model_dir, embedding::LoadModelDirectory(spec.model_dir()));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base,
                       model::BaseModel::Deserialize(source.model_dir.dense_blob));
  source.base = std::make_unique<model::BaseModel>(std::move(base));
  const std::string adapter_dir = spec.output_dir() + "/adapters";
  IAK_ASSIGN_OR_RETURN(source.domain_adapters, DomainAdapters(adapter_dir));
  std::sort(source.domain_adapters.begin(), source.domain_adapters.end(),
            [](const AdapterPlanRow& a, const AdapterPlanRow& b) { return a.domain < b.domain; });
  // Each adapter file once, however many domains it serves.
  for (const AdapterPlanRow& r : source.domain_adapters) {
    if (r.mode == "base" || source.adapters.count(r.adapter) > 0) continue;
    StatusOr<model::IakModule> adapter = LoadAdapter(adapter_dir, r.adapter);
    if (!adapter.ok()) {
      return Status(adapter.status().code(),
                    "export: adapter " + r.adapter + " named by " + AdapterPlanPath(adapter_dir) +
                        " (or found in " + adapter_dir + "): " + adapter.status().message());
    }
    source.adapters.emplace(r.adapter, std::move(*adapter));
  }
  return source;
}

namespace {

// The metadata every export file starts with: the format and the base
// model's snapshot and shape.
std::map<std::string, std::string> BaseMetadata(const embedding::ModelDirectory& model_dir,
                                                const model::BaseModelConfig& c) {
  return {{"format", "iak-export-v1"},
          {"snapshot_id", model_dir.manifest.snapshot_id()},
          {"embedding_dim", std::to_string(c.embedding_dim)},
          {"num_fields", std::to_string(c.num_fields)},
          {"bottom_hidden", JsonIntList(c.bottom_hidden)},
          {"tower_hidden", JsonIntList(c.tower_hidden)},
          {"num_tasks", std::to_string(c.num_tasks)}};
}

StatusOr<ExportReport> WriteExport(const std::vector<ExportTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata,
                                   const std::string& out_dir) {
  IAK_ASSIGN_OR_RETURN(std::string blob, EncodeSafetensors(tensors, metadata));
  IAK_RETURN_IF_ERROR(CreateDirectories(out_dir));
  ExportReport report;
  report.path = out_dir + "/model.safetensors";
  IAK_RETURN_IF_ERROR(WriteFileAtomically(report.path, blob));
  report.num_tensors = tensors.size();
  report.bytes = blob.size();
  return report;
}

// A job of a dense-family method (frozen, dense, lora, full): the frozen
// base and each domain's fine-tuned dense model, models.<domain>.<layer>.
StatusOr<ExportReport> ExportDenseModels(const proto::JobSpec& spec, const std::string& out_dir) {
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model_dir,
                       embedding::LoadModelDirectory(spec.model_dir()));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base, model::BaseModel::Deserialize(model_dir.dense_blob));
  const std::string models_dir = spec.output_dir() + "/models";
  const std::vector<std::string> domains = DomainsWithFiles(models_dir, ".dense");
  if (spec.method() != "frozen" && domains.empty()) {
    return NotFoundError("no fine-tuned models (*.dense) in " + models_dir + " for method '" +
                         spec.method() + "': run the job (iak submit) before exporting it");
  }
  std::vector<ExportTensor> tensors = BaseModelTensors(base);
  std::map<std::string, std::string> metadata = BaseMetadata(model_dir, base.config());
  metadata["method"] = spec.method();
  std::string model_list = "[";
  for (const std::string& domain : domains) {
    IAK_ASSIGN_OR_RETURN(model::BaseModel tuned, LoadMethodModel(spec.output_dir(), domain));
    if (tuned.num_params() != base.num_params()) {
      return FailedPreconditionError(MethodModelPath(spec.output_dir(), domain) +
                                     " is not a model of the shape of " + spec.model_dir());
    }
    for (ExportTensor& t : BaseModelTensors(tuned)) {
      t.name = "models." + domain + "." + t.name;
      tensors.push_back(std::move(t));
    }
    model_list += (model_list.size() > 1 ? "," : "") + JsonQuote(domain);
  }
  metadata["models"] = model_list + "]";
  if (spec.method() == "full") metadata["trained_model_dir"] = TrainedModelDir(spec);
  IAK_ASSIGN_OR_RETURN(ExportReport report, WriteExport(tensors, metadata, out_dir));
  report.domains = domains;
  report.dense_models = true;
  return report;
}

}  // namespace

StatusOr<ExportReport> ExportJob(const proto::JobSpec& spec, const std::string& out_dir) {
  if (!IsAdapterMethod(spec.method())) return ExportDenseModels(spec, out_dir);
  IAK_ASSIGN_OR_RETURN(ExportSource source, LoadExportSource(spec));
  std::vector<ExportTensor> tensors = BaseModelTensors(*source.base);
  std::map<std::string, std::string> metadata =
      BaseMetadata(source.model_dir, source.base->config());
  metadata["insertion"] = source.adapters_on_x ? "x" : "h";
  std::string adapter_list = "[";
  for (const auto& [name, adapter] : source.adapters) {
    std::vector<ExportTensor> more = AdapterTensors(adapter, "iak." + name + ".");
    tensors.insert(tensors.end(), std::make_move_iterator(more.begin()),
                   std::make_move_iterator(more.end()));
    metadata["iak." + name] = AdapterConfigJson(adapter.config());
    IAK_RETURN_IF_ERROR(
        AddKeyParameters(spec.output_dir() + "/adapters", name, &tensors, &metadata));
    adapter_list += (adapter_list.size() > 1 ? "," : "") + JsonQuote(name);
  }
  adapter_list += "]";
  // "domains" keeps its v1 meaning for existing readers: the exported
  // adapters (for a job without a plan file, its domains).
  metadata["adapters"] = adapter_list;
  metadata["domains"] = adapter_list;
  std::string domain_map = "{";
  for (const AdapterPlanRow& r : source.domain_adapters) {
    domain_map += (domain_map.size() > 1 ? "," : "") + JsonQuote(r.domain) + ":" +
                  (r.mode == "base" ? std::string("null") : JsonQuote(r.adapter));
  }
  metadata["domain_adapters"] = domain_map + "}";
  IAK_ASSIGN_OR_RETURN(ExportReport report, WriteExport(tensors, metadata, out_dir));
  for (const auto& [name, adapter] : source.adapters) report.domains.push_back(name);
  report.domain_adapters = source.domain_adapters;
  return report;
}

}  // namespace iak::worker
