#include "worker/row_access.h"

#include <string>
#include <utility>

#include <glog/logging.h>

#include "job/job_spec.h"
#include "ps/trainable_options.h"

namespace iak::worker {

ResolvedRows* RowAccess::ResolvedFrozen(const data::Dataset* data, int dim) {
  RowSource* source = frozen();
  if (source == nullptr) return nullptr;
  if (resolved_ == nullptr || resolved_->data() != data || resolved_->dim() != dim ||
      resolved_->source() != source) {
    resolved_ = ResolvedRows::Make(data, source, dim);
  }
  return resolved_.get();
}

std::unique_ptr<PinnedRowSource> RowAccess::PinRows(const data::Dataset& data, RowSource* source,
                                                    int dim, uint64_t budget_bytes,
                                                    PullMonitor* monitor) {
  // A table in this process resolves its rows itself.
  if (budget_bytes == 0 || data.keys.empty() || source->resolves_rows_of(&data)) return nullptr;
  std::unique_ptr<PinnedRowSource> pinned =
      PinnedRowSource::Make(data, source, dim, budget_bytes, monitor);
  if (pinned != nullptr) {
    LOG(INFO) << "keeping the frozen rows of the data's " << pinned->num_keys()
              << " distinct keys once pulled ("
              << (PinnedRowSource::BytesFor(pinned->num_keys(), dim) >> 20) << " MiB of "
              << (budget_bytes >> 20) << " MiB, pinned_rows_mb)";
  } else {
    LOG(INFO) << "the data's rows do not fit pinned_rows_mb (" << (budget_bytes >> 20)
              << " MiB): every batch pulls its rows";
  }
  return pinned;
}

PsRowAccess::PsRowAccess(const proto::JobSpec& spec, const TrainingInputs* inputs,
                         std::string name, net::Transport* transport, PullMonitor* monitor)
    : spec_(spec),
      inputs_(inputs),
      name_(std::move(name)),
      transport_(transport),
      monitor_(monitor) {}

Status PsRowAccess::Connect(const std::vector<proto::ServerAddress>& servers, int rank) {
  if (client_ != nullptr) return Status::Ok();
  IAK_ASSIGN_OR_RETURN(ps::PsClientOptions options,
                       PsOptionsFor(spec_, *inputs_, servers, rank, name_));
  // Full fine-tuning changes the rows on the servers after every step: its
  // pulls must never come from the row cache (which assumes frozen rows).
  if (spec_.method() == "full") options.cache_bytes = 0;
  auto client = std::make_unique<ps::PsClient>(options, transport_);
  IAK_RETURN_IF_ERROR(client->Connect());
  client_ = std::move(client);
  // A table whose keys do not match the data fails the job past the spec's
  // max_missing_key_rate instead of training on zero rows.
  if (monitor_ != nullptr) monitor_->SetMissingKeyLimit(spec_);
  source_ = std::make_unique<PsRowSource>(client_.get(), monitor_);
  trainable_ = std::make_unique<PsTrainableRows>(client_.get(), rank);
  // The frozen rows of the in-memory data, each pulled once. A streamed job
  // holds only its validation samples in memory: validation scoring then
  // reads kept rows, and its streamed batches pull the keys outside them.
  pinned_ = PinRows(inputs_->job.dataset, source_.get(), inputs_->base->config().embedding_dim,
                    job::PinnedRowsBudgetBytes(spec_), monitor_);
  return Status::Ok();
}

StatusOr<TrainableRows*> PsRowAccess::trainable(int unit) {
  if (trainable_ == nullptr) return FailedPreconditionError(name_ + ": not connected to the servers");
  if (unit != 0) {
    return FailedPreconditionError(
        "method \"full\" trains the shared embedding rows on the parameter servers, so a job "
        "fine-tunes exactly one domain, but this job trains more; run one job per domain (e.g. "
        "data.period_bounds ending at that domain's end), see docs/job_spec.md");
  }
  return trainable_.get();
}

LocalRowAccess::LocalRowAccess(const proto::JobSpec& spec, const model::RowLookup* table, int dim)
    : table_(table), dim_(dim), source_(table, dim) {
  StatusOr<ps::RowOptimizerOptions> options = ps::RowOptimizerOptionsFor(spec.trainable());
  if (options.ok()) {
    optimizer_ = *options;
  } else {
    optimizer_error_ = options.status().WithContext("trainable");
  }
}

StatusOr<TrainableRows*> LocalRowAccess::trainable(int unit) {
  IAK_RETURN_IF_ERROR(optimizer_error_);
  if (unit < 0) return InvalidArgumentError("no training unit " + std::to_string(unit));
  // One overlay per unit: each domain trains rows of its own, as a job per
  // domain on the servers would.
  if (trainable_.size() <= static_cast<size_t>(unit)) trainable_.resize(unit + 1);
  if (trainable_[unit] == nullptr) {
    trainable_[unit] = std::make_unique<LocalTrainableRows>(table_, dim_, optimizer_);
  }
  return trainable_[unit].get();
}

StatusOr<TrainableRows*> SourceRowAccess::trainable(int unit) {
  return FailedPreconditionError("training unit " + std::to_string(unit) +
                                 ": these rows are frozen (SourceRowAccess); use a method that "
                                 "keeps the embedding rows frozen");
}

}  // namespace iak::worker
