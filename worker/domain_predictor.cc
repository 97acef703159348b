#include "worker/domain_predictor.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "embedding/model_directory.h"
#include "model/loss.h"
#include "model/matrix_ops.h"
#include "worker/adapter_model.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/dense_models.h"
#include "worker/local_lookup.h"
#include "worker/model_factory.h"

namespace iak::worker {
namespace {

// out = the rows `rows` of `in` (rows of `width` floats), in that order.
void Gather(const float* in, size_t width, const std::vector<int>& rows,
            std::vector<float>* out) {
  out->resize(rows.size() * width);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(out->data() + i * width, in + rows[i] * width, sizeof(float) * width);
  }
}

}  // namespace

StatusOr<DomainPredictor> DomainPredictor::Create(const model::BaseModel* base,
                                                  std::vector<const model::IakModule*> adapters,
                                                  bool adapters_on_x) {
  const int width = adapters_on_x ? base->config().input_dim() : base->config().h_dim();
  for (size_t d = 0; d < adapters.size(); ++d) {
    if (adapters[d] != nullptr && adapters[d]->config().input_dim != width) {
      return InvalidArgumentError("adapter of domain " + std::to_string(d) + " has input_dim " +
                                  std::to_string(adapters[d]->config().input_dim) +
                                  " but the base model's " + (adapters_on_x ? "x" : "h") +
                                  " is " + std::to_string(width) +
                                  " wide: it was trained for another model or insertion");
    }
  }
  return DomainPredictor(base, std::move(adapters), adapters_on_x);
}

StatusOr<DomainPredictor> DomainPredictor::CreateForDenseModels(
    const model::BaseModel* base, std::vector<const model::BaseModel*> models) {
  for (size_t d = 0; d < models.size(); ++d) {
    if (models[d] != nullptr && (models[d]->num_params() != base->num_params() ||
                                 models[d]->config().num_tasks != base->config().num_tasks)) {
      return InvalidArgumentError("the model of domain " + std::to_string(d) +
                                  " is not of the base model's shape: it was fine-tuned from "
                                  "another base");
    }
  }
  DomainPredictor predictor(base, std::vector<const model::IakModule*>(models.size()), false);
  predictor.dense_models_ = std::move(models);
  return predictor;
}

Status DomainPredictor::Group(const int32_t* domain, int batch, const float* p_ctcvr) {
  if (p_ctcvr != nullptr && base_->config().num_tasks != 2) {
    return FailedPreconditionError("pCTCVR needs a two-task (ESMM) base model");
  }
  rows_of_.resize(adapters_.size());
  for (auto& rows : rows_of_) rows.clear();
  for (int r = 0; r < batch; ++r) {
    if (domain[r] < 0 || domain[r] >= num_domains()) {
      return InvalidArgumentError("row " + std::to_string(r) + " has domain " +
                                  std::to_string(domain[r]) + ", outside [0, " +
                                  std::to_string(num_domains()) + ")");
    }
    rows_of_[domain[r]].push_back(r);
  }
  return Status::Ok();
}

void DomainPredictor::AdaptRows(const float* in, size_t width, int batch,
                                std::vector<float>* out) {
  out->assign(in, in + static_cast<size_t>(batch) * width);
  for (int d = 0; d < num_domains(); ++d) {
    const std::vector<int>& rows = rows_of_[d];
    if (rows.empty() || adapters_[d] == nullptr) continue;
    const int n = static_cast<int>(rows.size());
    Gather(in, width, rows, &gather_in_);
    gather_out_.resize(n * width);
    adapters_[d]->Infer(gather_in_.data(), n, gather_out_.data(), &iak_ws_);
    for (int i = 0; i < n; ++i) {
      std::memcpy(out->data() + rows[i] * width, &gather_out_[i * width], sizeof(float) * width);
    }
  }
}

Status DomainPredictor::ScoreMixed(const float* x, const int32_t* domain, int batch,
                                   float* p_ctr, float* p_ctcvr, const float* ctr_offset) {
  if (!dense_models_.empty()) return ScorePerDomain(x, domain, batch, p_ctr, p_ctcvr, ctr_offset);
  const model::BaseModelConfig& c = base_->config();
  IAK_RETURN_IF_ERROR(Group(domain, batch, p_ctcvr));
  h_.resize(static_cast<size_t>(batch) * c.h_dim());
  logits_.resize(static_cast<size_t>(batch) * c.num_tasks);
  const float* towers_in = h_adapted_.data();
  if (adapters_on_x_) {
    AdaptRows(x, c.input_dim(), batch, &x_adapted_);
    base_->ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
    towers_in = h_.data();
  } else {
    base_->ForwardBottom(x, batch, h_.data(), &base_ws_);
    AdaptRows(h_.data(), c.h_dim(), batch, &h_adapted_);
    towers_in = h_adapted_.data();
  }
  base_->ForwardTowers(towers_in, batch, logits_.data(), &base_ws_);
  model::AddCtrLogitOffset(ctr_offset, batch, c.num_tasks, logits_.data());
  model::TaskProbabilities(logits_.data(), batch, c.num_tasks, p_ctr, p_ctcvr);
  return Status::Ok();
}

Status DomainPredictor::ScorePerDomain(const float* x, const int32_t* domain, int batch,
                                       float* p_ctr, float* p_ctcvr, const float* ctr_offset) {
  IAK_RETURN_IF_ERROR(Group(domain, batch, p_ctcvr));
  const size_t in = base_->config().input_dim();
  for (int d = 0; d < num_domains(); ++d) {
    const std::vector<int>& rows = rows_of_[d];
    if (rows.empty()) continue;
    const int n = static_cast<int>(rows.size());
    Gather(x, in, rows, &gather_in_);
    p1_.resize(n);
    p2_.resize(n);
    float* ctcvr = p_ctcvr != nullptr ? p2_.data() : nullptr;
    const model::BaseModel& model =
        dense_models_.empty() || dense_models_[d] == nullptr ? *base_ : *dense_models_[d];
    const float* offset = nullptr;
    if (ctr_offset != nullptr) {
      gather_offset_.resize(n);
      for (int i = 0; i < n; ++i) gather_offset_[i] = ctr_offset[rows[i]];
      offset = gather_offset_.data();
    }
    if (adapters_[d] != nullptr && (adapters_on_x_ || offset != nullptr)) {
      x_step_.Predict(model, *adapters_[d], adapters_on_x_, gather_in_.data(), n, p1_.data(),
                      ctcvr, offset);
    } else {
      step_.Predict(model, adapters_[d], gather_in_.data(), n, p1_.data(), ctcvr);
    }
    for (int i = 0; i < n; ++i) {
      p_ctr[rows[i]] = p1_[i];
      if (p_ctcvr != nullptr) p_ctcvr[rows[i]] = p2_[i];
    }
  }
  return Status::Ok();
}

Status PredictSamples(const data::Dataset& dataset, const data::SampleIds& ids,
                      const model::RowLookup& rows, const PredictOptions& options,
                      DomainPredictor* predictor, float* p_ctr, float* p_ctcvr,
                      const std::vector<const model::RowLookup*>& domain_rows,
                      const std::vector<const KeyBiases*>& domain_biases) {
  if (options.batch_size <= 0) {
    return InvalidArgumentError("batch size must be positive, not " +
                                std::to_string(options.batch_size));
  }
  const model::BaseModelConfig& c = predictor->base().config();
  if (dataset.num_fields() != c.num_fields) {
    return InvalidArgumentError("the data has " + std::to_string(dataset.num_fields()) +
                                " fields but the model was trained on " +
                                std::to_string(c.num_fields) + ": use the job's schema");
  }
  std::vector<float> x, offsets;
  std::vector<int32_t> domain;
  bool biased = false;
  for (const KeyBiases* b : domain_biases) biased = biased || b != nullptr;
  for (size_t begin = 0; begin < ids.size(); begin += options.batch_size) {
    const int n = static_cast<int>(std::min<size_t>(options.batch_size, ids.size() - begin));
    domain.resize(n);
    for (int i = 0; i < n; ++i) {
      const int32_t d = dataset.domain[ids[begin + i]];
      const bool mapped = options.domain_map != nullptr && d >= 0 &&
                          static_cast<size_t>(d) < options.domain_map->size();
      domain[i] = mapped ? (*options.domain_map)[d] : d;
    }
    x.resize(static_cast<size_t>(n) * c.input_dim());
    model::PoolBatch(dataset, ids.data() + begin, n, c.embedding_dim, rows, x.data());
    // Samples of a domain with new-key rows pool again, from those rows.
    for (int i = 0; i < n; ++i) {
      const size_t d = static_cast<size_t>(domain[i]);
      if (d >= domain_rows.size() || domain_rows[d] == nullptr) continue;
      model::PoolBatch(dataset, ids.data() + begin + i, 1, c.embedding_dim, *domain_rows[d],
                       x.data() + static_cast<size_t>(i) * c.input_dim());
    }
    // Samples of a domain with key biases: their keys' biases on the CTR logit.
    if (biased) offsets.assign(static_cast<size_t>(n), 0.0f);
    for (int i = 0; biased && i < n; ++i) {
      const size_t d = static_cast<size_t>(domain[i]);
      if (d >= domain_biases.size() || domain_biases[d] == nullptr) continue;
      domain_biases[d]->Offsets(dataset, ids.data() + begin + i, 1, offsets.data() + i);
    }
    float* ctcvr = p_ctcvr != nullptr ? p_ctcvr + begin : nullptr;
    const float* offset = biased ? offsets.data() : nullptr;
    IAK_RETURN_IF_ERROR(options.mixed ? predictor->ScoreMixed(x.data(), domain.data(), n,
                                                              p_ctr + begin, ctcvr, offset)
                                      : predictor->ScorePerDomain(x.data(), domain.data(), n,
                                                                  p_ctr + begin, ctcvr, offset));
  }
  return Status::Ok();
}

StatusOr<DomainPredictor> JobModels::MakePredictor(bool use_tuned, int extra_base_domains) const {
  if (!dense_models.empty()) {
    std::vector<const model::BaseModel*> models;
    for (const auto& m : dense_models) models.push_back(use_tuned ? m.get() : nullptr);
    models.resize(models.size() + static_cast<size_t>(extra_base_domains), nullptr);
    return DomainPredictor::CreateForDenseModels(base.get(), std::move(models));
  }
  std::vector<const model::IakModule*> ptrs;
  for (const auto& a : adapters) ptrs.push_back(use_tuned ? a.get() : nullptr);
  ptrs.resize(ptrs.size() + static_cast<size_t>(extra_base_domains), nullptr);
  return DomainPredictor::Create(base.get(), std::move(ptrs), adapters_on_x);
}

std::vector<const model::RowLookup*> JobModels::DomainRows() const {
  std::vector<const model::RowLookup*> out;
  for (const auto& lookup : new_row_lookups) out.push_back(lookup.get());
  if (trained_rows != nullptr) {
    out.resize(dense_models.size());
    for (size_t d = 0; d < dense_models.size(); ++d) {
      if (dense_models[d] != nullptr) out[d] = trained_rows.get();
    }
  }
  return out;
}

std::vector<const KeyBiases*> JobModels::DomainBiases() const {
  std::vector<const KeyBiases*> out;
  for (const auto& biases : key_biases) out.push_back(biases.get());
  return out;
}

namespace {

// LoadJobModels for a dense-family job: each domain's <output_dir>/models
// file where the job wrote one; method full's trained rows.
Status LoadDenseModels(const proto::JobSpec& spec, const std::vector<std::string>& domain_names,
                       JobModels* models) {
  for (const std::string& domain : domain_names) {
    std::error_code ec;
    if (!std::filesystem::exists(MethodModelPath(spec.output_dir(), domain), ec)) {
      models->dense_models.push_back(nullptr);
      continue;
    }
    IAK_ASSIGN_OR_RETURN(model::BaseModel tuned, LoadMethodModel(spec.output_dir(), domain));
    models->dense_models.push_back(std::make_unique<model::BaseModel>(std::move(tuned)));
    ++models->num_adapters;
  }
  if (spec.method() != "frozen" && models->num_adapters == 0) {
    return NotFoundError("no fine-tuned model in " + spec.output_dir() +
                         "/models matches a domain of the data (method '" + spec.method() +
                         "'): run the job (iak submit) first");
  }
  if (spec.method() == "full") {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<embedding::LocalEmbeddingTable> table,
                         OpenTrainedTable(spec));
    models->trained_rows = std::make_unique<LocalLookup>(table.get());
    models->trained_table =
        std::shared_ptr<const embedding::LocalEmbeddingTable>(std::move(table));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<JobModels>> LoadJobModels(const proto::JobSpec& spec,
                                                   const std::vector<std::string>& domain_names) {
  const bool adapter_job = IsAdapterMethod(spec.method());
  auto models = std::make_unique<JobModels>();
  if (adapter_job) {  // before any loading: an insertion nothing here scores fails first
    IAK_ASSIGN_OR_RETURN(models->adapters_on_x,
                         InferenceAdaptersOnX(spec, "scoring with a job's adapters"));
  }
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model_dir,
                       embedding::LoadModelDirectory(spec.model_dir()));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base, model::BaseModel::Deserialize(model_dir.dense_blob));
  models->base = std::make_unique<model::BaseModel>(std::move(base));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<embedding::LocalEmbeddingTable> table,
                       embedding::LocalEmbeddingTable::Open(model_dir));
  models->rows = std::make_unique<LocalLookup>(table.get());
  models->table = std::shared_ptr<const embedding::LocalEmbeddingTable>(std::move(table));
  if (!adapter_job) {
    IAK_RETURN_IF_ERROR(LoadDenseModels(spec, domain_names, models.get()));
    return models;
  }
  const std::string dir = spec.output_dir() + "/adapters";
  // With a plan file (adapter_plan_file.h) each domain is served by its own
  // adapter, the cold domains' shared one or the base; without one, by
  // <domain>.iak if any. Each unit is loaded once, whichever domains it serves.
  IAK_ASSIGN_OR_RETURN(std::vector<AdapterPlanRow> served,
                       ResolveDomainAdapters(dir, domain_names));
  struct Unit {
    std::shared_ptr<const model::IakModule> adapter;
    std::shared_ptr<const NewKeyRows> new_rows;
    std::shared_ptr<const NewKeyRowLookup> new_row_lookup;
    std::shared_ptr<const KeyBiases> key_biases;
  };
  std::map<std::string, Unit> units;
  for (const AdapterPlanRow& r : served) {
    std::error_code ec;
    models->notes.push_back(r.Note());
    if (r.adapter.empty() || !std::filesystem::exists(AdapterPath(dir, r.adapter), ec)) {
      if (!r.adapter.empty()) models->notes.back() = "base model (no adapter file)";
      models->adapters.push_back(nullptr);
      models->new_rows.emplace_back();
      models->new_row_lookups.emplace_back();
      models->key_biases.emplace_back();
      continue;
    }
    auto [unit, first] = units.try_emplace(r.adapter);
    if (first) {
      IAK_ASSIGN_OR_RETURN(model::IakModule adapter, LoadAdapter(dir, r.adapter));
      unit->second.adapter = std::make_shared<const model::IakModule>(std::move(adapter));
      IAK_ASSIGN_OR_RETURN(unit->second.new_rows, LoadNewKeyRowsIfAny(dir, r.adapter));
      if (unit->second.new_rows != nullptr) {
        unit->second.new_row_lookup = std::make_shared<const NewKeyRowLookup>(
            unit->second.new_rows.get(), models->rows.get());
      }
      IAK_ASSIGN_OR_RETURN(unit->second.key_biases, LoadKeyBiasesIfAny(dir, r.adapter));
    }
    models->adapters.push_back(unit->second.adapter);
    models->new_rows.push_back(unit->second.new_rows);
    models->new_row_lookups.push_back(unit->second.new_row_lookup);
    models->key_biases.push_back(unit->second.key_biases);
    ++models->num_adapters;
  }
  if (models->num_adapters == 0) {
    return NotFoundError("no adapter in " + dir +
                         " matches a domain of the data: run the job (iak submit) first");
  }
  return models;
}

}  // namespace iak::worker
