// Exporter: a job's frozen dense weights and every domain's IAK adapter as
// safetensors (https://github.com/huggingface/safetensors), readable by the
// standard libraries. Layout and tensor names: docs/export.md.
//
// File format: 8-byte little-endian header length N, N bytes of JSON header
// {name: {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, ...,
//  "__metadata__": {string: string}}, padded with spaces to a multiple of 8,
// then the raw little-endian tensor bytes (offsets relative to their start,
// contiguous, in header order).
#ifndef IAK_WORKER_EXPORTER_H_
#define IAK_WORKER_EXPORTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "embedding/model_directory.h"
#include "model/base_model.h"
#include "model/iak_module.h"
#include "proto/job_spec.pb.h"
#include "worker/adapter_plan_file.h"

namespace iak::worker {

struct ExportTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major, product(shape) values (F32)
  // A U64 tensor (embedding keys) instead: product(shape) keys, `values` empty.
  bool is_u64 = false;
  std::vector<uint64_t> u64_values{};
};

// The base model's layers: bottom.<i>.{weight,bias}, tower.<t>.<i>.{weight,bias};
// weight is [in, out] (y = x W + b), bias is [out].
std::vector<ExportTensor> BaseModelTensors(const model::BaseModel& base);

// An adapter's layers: <prefix>encoder.<i>.{weight,bias}, <prefix>decoder.<i>.{...}.
std::vector<ExportTensor> AdapterTensors(const model::IakModule& adapter,
                                         const std::string& prefix);

// The file bytes (F32 tensors, and U64 ones where is_u64). InvalidArgument on
// a duplicate or empty name, a name starting with "__", or a shape that does
// not match the value count.
[[nodiscard]] StatusOr<std::string> EncodeSafetensors(
    const std::vector<ExportTensor>& tensors, const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  std::vector<ExportTensor> tensors;  // in offset order
  std::map<std::string, std::string> metadata;
};

// Parses a safetensors blob with F32 tensors (what EncodeSafetensors writes)
// through embedding::ParseSafetensors, as the export's tests read it back.
// DataLoss naming `what` and the problem on a truncated or malformed file or
// a tensor of another dtype.
[[nodiscard]] StatusOr<SafetensorsFile> DecodeSafetensors(const std::string& blob,
                                                          const std::string& what);

// A finished adapter job as the exporters read it: the model directory, the
// frozen base, which adapter serves each domain, and each adapter once.
struct ExportSource {
  embedding::ModelDirectory model_dir;
  std::unique_ptr<model::BaseModel> base;
  // Every domain and what serves it (mode own/shared/base), sorted by domain.
  std::vector<AdapterPlanRow> domain_adapters;
  // Each adapter the plan names once, by file stem, sorted.
  std::map<std::string, model::IakModule> adapters;
  bool adapters_on_x = false;  // iak.insertion "x": adapters map x, not h
};

// Loads spec.model_dir()'s manifest and dense weights and the job's adapters:
// those the plan file <output_dir>/adapters/domain_plan.tsv names
// (adapter_plan_file.h), or without one (older runs) every
// <output_dir>/adapters/*.iak. NotFound when the job has no adapters yet (run
// the job first) or a planned adapter file is missing; InvalidArgument on a
// malformed plan file.
[[nodiscard]] StatusOr<ExportSource> LoadExportSource(const proto::JobSpec& spec);

// {"input_dim":..,"latent_dim":..,"encoder_hidden":[..],"decoder_hidden":[..],"plain_adapter":..}
std::string AdapterConfigJson(const model::IakConfig& config);

struct ExportReport {
  std::string path;
  // Adapters exported (file stems), sorted, each once; for a dense-family
  // job (dense_models) the domains whose fine-tuned models were exported.
  std::vector<std::string> domains;
  bool dense_models = false;
  // Every domain and what serves it (mode own/shared/base), sorted by domain.
  std::vector<AdapterPlanRow> domain_adapters;
  size_t num_tensors = 0;
  size_t bytes = 0;
};

// Writes LoadExportSource(spec) as <out_dir>/model.safetensors (created if
// needed): dense layers in [in, out] layout, each adapter once (own, shared
// "shared:<d1>+<d2>", none for a base-model domain). Errors as
// LoadExportSource, plus IoError when the file cannot be written. A job of
// another method (frozen, dense, lora, full) exports the frozen base and
// each domain's fine-tuned dense model (<output_dir>/models/) as
// models.<domain>.<layer>; NotFound when it has none yet.
[[nodiscard]] StatusOr<ExportReport> ExportJob(const proto::JobSpec& spec,
                                               const std::string& out_dir);

}  // namespace iak::worker

#endif  // IAK_WORKER_EXPORTER_H_
