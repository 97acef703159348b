#include "worker/trainable_rows.h"

#include <cstring>
#include <string>

namespace iak::worker {

LocalTrainableRows::LocalTrainableRows(const model::RowLookup* frozen, int dim,
                                       ps::RowOptimizerOptions options)
    : frozen_(frozen), dim_(dim), options_(options), optimizer_(MakeOptimizer()) {}

std::unique_ptr<ps::SparseRowOptimizer> LocalTrainableRows::MakeOptimizer() const {
  const model::RowLookup* frozen = frozen_;
  const int dim = dim_;
  auto read = [frozen, dim](const uint64_t* keys, size_t n, float* out,
                            std::vector<bool>* present) {
    present->assign(n, false);
    for (size_t i = 0; i < n; ++i) {
      const float* row = frozen->Find(keys[i]);
      CopyRowOrZero(row, dim, out + i * static_cast<size_t>(dim));
      (*present)[i] = row != nullptr;
    }
    return Status::Ok();
  };
  return std::make_unique<ps::SparseRowOptimizer>(dim_, options_, read);
}

Status LocalTrainableRows::Fetch(const uint64_t* keys, size_t n, float* rows_out) {
  for (size_t i = 0; i < n; ++i) {
    float* out = rows_out + i * static_cast<size_t>(dim_);
    const float* row = optimizer_->Find(keys[i], nullptr);
    if (row == nullptr) row = frozen_->Find(keys[i]);
    if (row == nullptr) {
      optimizer_->AbsentRow(keys[i], out);  // zero, or the seeded init row
    } else {
      std::memcpy(out, row, sizeof(float) * static_cast<size_t>(dim_));
    }
  }
  return Status::Ok();
}

Status LocalTrainableRows::Push(const uint64_t* keys, size_t n, const float* grads,
                                uint64_t* applied) {
  IAK_ASSIGN_OR_RETURN(uint64_t updated, optimizer_->Apply(keys, n, grads, nullptr));
  if (applied != nullptr) *applied = updated;
  return Status::Ok();
}

Status LocalTrainableRows::Snapshot() {
  snapshot_ = std::make_unique<ps::SparseRowOptimizer>(*optimizer_);
  return Status::Ok();
}

Status LocalTrainableRows::RollBack() {
  if (snapshot_ == nullptr) return FailedPreconditionError("no snapshot of the trained rows");
  optimizer_ = std::make_unique<ps::SparseRowOptimizer>(*snapshot_);
  return Status::Ok();
}

Status PsTrainableRows::Push(const uint64_t* keys, size_t n, const float* grads,
                             uint64_t* applied) {
  ps::PushStats stats;
  IAK_RETURN_IF_ERROR(client_->Push(keys, n, grads, &stats));
  if (applied != nullptr) *applied = stats.applied;
  return Status::Ok();
}

Status PsTrainableRows::Snapshot() {
  if (rank_ != 0) return Status::Ok();  // see the class comment
  const std::string tag = "best-" + std::to_string(snapshots_ + 1);
  ps::OverlayStats stats;
  IAK_RETURN_IF_ERROR(client_->SnapshotOverlay(tag, &stats));
  ++snapshots_;
  VLOG(1) << "overlay snapshot " << tag << ": " << stats.rows << " trained rows, "
          << stats.bytes << " bytes on the servers";
  return Status::Ok();
}

Status PsTrainableRows::RollBack() {
  if (rank_ != 0) return Status::Ok();  // see the class comment
  if (snapshots_ == 0) {
    return FailedPreconditionError("no snapshot of the trained rows was taken on the servers");
  }
  const std::string tag = "best-" + std::to_string(snapshots_);
  ps::OverlayStats stats;
  IAK_RETURN_IF_ERROR(client_->RestoreOverlay(tag, &stats));
  LOG(INFO) << "restored the trained rows of the best validation point on the servers ("
            << stats.rows << " trained rows; " << stats.rows_discarded
            << " rows first trained after it are back to their source values)";
  return Status::Ok();
}

}  // namespace iak::worker
