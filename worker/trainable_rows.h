// TrainableRows: embedding rows that a method trains (full fine-tuning), as
// the DomainModel sees them: read like any RowSource, written by pushing
// per-key gradients, each pushed key getting one step of the sparse row
// optimizer (ps/sparse_row_optimizer.h: Adagrad or sparse Adam).
//   PsTrainableRows     the trainable parameter servers (a cluster job);
//   LocalTrainableRows  an overlay in this process over a frozen table
//                       (single-process runs), the servers' optimizer code.
// Snapshot()/RollBack() let validation keep the best rows: the local
// overlay copies itself; the servers keep their overlay and refuse.
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_TRAINABLE_ROWS_H_
#define IAK_WORKER_TRAINABLE_ROWS_H_

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "model/embedding_pooling.h"
#include "ps/ps_client.h"
#include "ps/sparse_row_optimizer.h"
#include "worker/row_source.h"

namespace iak::worker {

class TrainableRows : public RowSource {
 public:
  // One optimizer step per distinct key of keys[0..n) with grads [n x dim]
  // (duplicates summed); *applied (may be null) = distinct keys updated.
  [[nodiscard]] virtual Status Push(const uint64_t* keys, size_t n, const float* grads,
                                    uint64_t* applied) = 0;
  // Remembers the current rows; RollBack() returns to them.
  [[nodiscard]] virtual Status Snapshot() = 0;
  [[nodiscard]] virtual Status RollBack() = 0;
  // Rows trained so far (for the cost of a checkpoint), -1 when unknown.
  virtual int64_t num_trained_rows() const = 0;
};

class LocalTrainableRows : public TrainableRows {
 public:
  // `frozen` (not owned) must outlive this.
  LocalTrainableRows(const model::RowLookup* frozen, int dim, ps::RowOptimizerOptions options);
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override;
  Status Push(const uint64_t* keys, size_t n, const float* grads, uint64_t* applied) override;
  Status Snapshot() override;
  Status RollBack() override;
  int64_t num_trained_rows() const override {
    return static_cast<int64_t>(optimizer_->num_rows());
  }

 private:
  std::unique_ptr<ps::SparseRowOptimizer> MakeOptimizer() const;

  const model::RowLookup* frozen_;
  int dim_;
  ps::RowOptimizerOptions options_;
  std::unique_ptr<ps::SparseRowOptimizer> optimizer_;
  std::unique_ptr<ps::SparseRowOptimizer> snapshot_;
};

class PsTrainableRows : public TrainableRows {
 public:
  // `client` (connected, no row cache) must outlive this.
  explicit PsTrainableRows(ps::PsClient* client) : client_(client) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override {
    return client_->Pull(keys, n, rows_out, nullptr);
  }
  Status Push(const uint64_t* keys, size_t n, const float* grads, uint64_t* applied) override;
  Status Snapshot() override;
  Status RollBack() override;
  int64_t num_trained_rows() const override { return -1; }

 private:
  ps::PsClient* client_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_TRAINABLE_ROWS_H_
