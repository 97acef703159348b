// DomainPredictor: parallel inference with domain activation. The frozen base
// and every domain's adapter are loaded once; a batch of samples from MIXED
// domains is scored in one pass, each sample through its own domain's adapter:
//
//   h = base bottom(x)                  once, whole batch
//   rows grouped by domain; for each domain d present:
//     h'[rows of d] = adapter_d(h[rows of d])   (h' = h where d has no adapter)
//   logits = base towers(h')            once, whole batch
//
// With adapters on x (JobSpec iak.insertion "x") the adapters map the pooled
// input instead: x'[rows of d] = adapter_d(x[rows of d]), then bottom and
// towers once over x'.
//
// ScorePerDomain is the reference it is benchmarked and tested against: each
// domain's rows scored separately (bottom, adapter, towers per domain).
//
// A job of a dense-family method (dense, lora, full) tuned the dense model
// itself, one per domain: CreateForDenseModels scores each domain's rows
// through its own model (the base where it has none); nothing is shared
// between domains, so ScoreMixed is ScorePerDomain there.
//
// Thread-safety: one DomainPredictor per thread (it owns scratch); the base
// model and adapters it points to are only read and may be shared.
#ifndef IAK_WORKER_DOMAIN_PREDICTOR_H_
#define IAK_WORKER_DOMAIN_PREDICTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "model/base_model.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/whole_model_adapter_step.h"
#include "proto/job_spec.pb.h"
#include "worker/key_biases.h"
#include "worker/new_key_rows.h"

namespace iak::worker {

class DomainPredictor {
 public:
  // adapters[d] is domain d's adapter, or null for "score with the frozen
  // base"; all on h, or all on x (adapters_on_x). Everything pointed to must
  // outlive the predictor. InvalidArgument when an adapter's input_dim is not
  // the base's h_dim (on x: its input_dim).
  [[nodiscard]] static StatusOr<DomainPredictor> Create(
      const model::BaseModel* base, std::vector<const model::IakModule*> adapters,
      bool adapters_on_x = false);
  // models[d] is domain d's fine-tuned dense model, or null for the base.
  // InvalidArgument when a model's shape is not the base's.
  [[nodiscard]] static StatusOr<DomainPredictor> CreateForDenseModels(
      const model::BaseModel* base, std::vector<const model::BaseModel*> models);

  int num_domains() const { return static_cast<int>(adapters_.size()); }
  const model::BaseModel& base() const { return *base_; }

  // x [batch x input_dim]; domain [batch], each in [0, num_domains()).
  // p_ctr [batch]; p_ctcvr [batch] for a two-task base (may be null).
  // ctr_offset [batch] (may be null) is added to each sample's CTR logit:
  // its domain's key biases (worker/key_biases.h). InvalidArgument naming
  // the row on an out-of-range domain.
  [[nodiscard]] Status ScoreMixed(const float* x, const int32_t* domain, int batch, float* p_ctr,
                                  float* p_ctcvr, const float* ctr_offset = nullptr);
  [[nodiscard]] Status ScorePerDomain(const float* x, const int32_t* domain, int batch,
                                      float* p_ctr, float* p_ctcvr,
                                      const float* ctr_offset = nullptr);

 private:
  DomainPredictor(const model::BaseModel* base, std::vector<const model::IakModule*> adapters,
                  bool adapters_on_x)
      : base_(base), adapters_(std::move(adapters)), adapters_on_x_(adapters_on_x) {}
  // Each domain's rows of `in` [batch x width] through its adapter into
  // `out` (a copy of `in` where a domain has none).
  void AdaptRows(const float* in, size_t width, int batch, std::vector<float>* out);
  // rows_of_[d] = the batch rows of domain d, in order. FailedPrecondition
  // when p_ctcvr is asked of a one-task base; InvalidArgument naming the row
  // of an out-of-range domain.
  Status Group(const int32_t* domain, int batch, const float* p_ctcvr);

  const model::BaseModel* base_;
  std::vector<const model::IakModule*> adapters_;
  bool adapters_on_x_ = false;
  std::vector<const model::BaseModel*> dense_models_;  // per domain; empty for adapter jobs
  std::vector<std::vector<int>> rows_of_;
  model::BaseModelWorkspace base_ws_;
  model::IakWorkspace iak_ws_;
  model::FineTuneStep step_;
  // ScorePerDomain with adapters on x, or with key biases.
  model::WholeModelAdapterStep x_step_;
  std::vector<float> h_, h_adapted_, x_adapted_, gather_in_, gather_out_, logits_, p1_, p2_;
  std::vector<float> gather_offset_;
};

struct PredictOptions {
  int batch_size = 1024;
  bool mixed = true;  // false: ScorePerDomain within each batch
  // When set, the dataset's domain d is the predictor's domain
  // (*domain_map)[d] (data whose domain names are numbered otherwise than
  // the predictor's); null: the same numbering. Not owned.
  const std::vector<int32_t>* domain_map = nullptr;
};

// Scores samples `ids` of `dataset` (embeddings from `rows`) in batches of
// options.batch_size, each with its dataset domain's predictor adapter.
// p_ctcvr may be null. `domain_rows[d]` (missing or null = `rows`) is what
// samples of domain d pool from: its unit's new-key rows over the table;
// `domain_biases[d]` (missing or null = none) its unit's key biases.
[[nodiscard]] Status PredictSamples(const data::Dataset& dataset, const data::SampleIds& ids,
                                    const model::RowLookup& rows, const PredictOptions& options,
                                    DomainPredictor* predictor, float* p_ctr, float* p_ctcvr,
                                    const std::vector<const model::RowLookup*>& domain_rows = {},
                                    const std::vector<const KeyBiases*>& domain_biases = {});

// A finished job's models loaded once for inference: the frozen base, the
// embedding table and the adapter of every domain in `domain_names` that has
// one under <output_dir>/adapters (the others score with the base); for a
// dense-family job, each domain's model under <output_dir>/models instead.
// NotFound when the job has written none of them yet (a frozen job needs
// none).
struct JobModels {
  std::unique_ptr<model::BaseModel> base;
  // Per domain, null = the base. Domains served by one unit (the cold
  // domains' shared adapter) share its loaded parameters, rows and biases.
  std::vector<std::shared_ptr<const model::IakModule>> adapters;
  bool adapters_on_x = false;  // JobSpec iak.insertion "x" (else on h)
  // A dense-family job (methods frozen, dense, lora, full): per domain its
  // fine-tuned model (<output_dir>/models/), null = the base; empty for an
  // adapter job. Method full's domains pool from the rows its servers
  // trained (trained_rows).
  std::vector<std::unique_ptr<model::BaseModel>> dense_models;
  std::shared_ptr<const void> trained_table;  // keeps `trained_rows` valid
  std::unique_ptr<model::RowLookup> trained_rows;
  // Per domain: its adapter's new-key rows (JobSpec.iak.new_key_rows) over
  // the table, null = the table alone.
  std::vector<std::shared_ptr<const NewKeyRows>> new_rows;
  std::vector<std::shared_ptr<const NewKeyRowLookup>> new_row_lookups;
  // Per domain: its adapter's key biases (JobSpec.iak.key_biases), or null.
  std::vector<std::shared_ptr<const KeyBiases>> key_biases;
  // Per domain: how the job's domain plan serves it when not by a model of
  // its own (AdapterPlanRow::Note: "shared adapter ...", "base model
  // (cold: ...)"), empty otherwise; reports print it next to the domain.
  std::vector<std::string> notes;
  std::shared_ptr<const void> table;                         // keeps `rows` valid
  std::unique_ptr<model::RowLookup> rows;
  int num_adapters = 0;  // adapters, or dense models, loaded

  // Whether domain d scores with a model of its own (else the frozen base).
  bool Tuned(size_t d) const {
    return (d < adapters.size() && adapters[d] != nullptr) ||
           (d < dense_models.size() && dense_models[d] != nullptr);
  }

  // A predictor over these models (they must outlive it); with
  // use_tuned=false every domain scores with the frozen base. Its domains
  // are this job's, then `extra_base_domains` more that score with the base
  // (for data with domains the job did not tune).
  [[nodiscard]] StatusOr<DomainPredictor> MakePredictor(bool use_tuned = true,
                                                        int extra_base_domains = 0) const;
  // PredictSamples' domain_rows and domain_biases.
  std::vector<const model::RowLookup*> DomainRows() const;
  std::vector<const KeyBiases*> DomainBiases() const;
};

[[nodiscard]] StatusOr<std::unique_ptr<JobModels>> LoadJobModels(
    const proto::JobSpec& spec, const std::vector<std::string>& domain_names);

}  // namespace iak::worker

#endif  // IAK_WORKER_DOMAIN_PREDICTOR_H_
