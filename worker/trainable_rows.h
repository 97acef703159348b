// TrainableRows: embedding rows that a method trains (full fine-tuning), as
// the DomainModel sees them: read like any RowSource, written by pushing
// per-key gradients, each pushed key getting one step of the sparse row
// optimizer (ps/sparse_row_optimizer.h: Adagrad or sparse Adam).
//   PsTrainableRows     the trainable parameter servers (a cluster job);
//   LocalTrainableRows  an overlay in this process over a frozen table
//                       (single-process runs), the servers' optimizer code.
// Snapshot()/RollBack() let validation keep the best rows: the local
// overlay copies itself; the servers copy theirs (PsClient::SnapshotOverlay /
// RestoreOverlay), asked by rank 0 only (see PsTrainableRows).
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
  // The trained rows (every row a push created or updated).
  const ps::SparseRowOptimizer& overlay() const { return *optimizer_; }

 private:
  std::unique_ptr<ps::SparseRowOptimizer> MakeOptimizer() const;

  const model::RowLookup* frozen_;
  int dim_;
  ps::RowOptimizerOptions options_;
  std::unique_ptr<ps::SparseRowOptimizer> optimizer_;
  std::unique_ptr<ps::SparseRowOptimizer> snapshot_;
};

// Every rank's model holds one and calls Snapshot() at the same validation
// points and RollBack() at the end (worker/trainer.h), but the servers keep
// one overlay for the whole job, so only rank 0 sends them; the other ranks'
// calls return OK at once. Why that is ordered without another barrier:
//  - Snapshot(): the Trainer validates on every rank together, its scores
//    all-reduced, after the step whose pushes every rank awaited and then met
//    at the push barrier; so when rank 0 sends the snapshot every push of the
//    steps before is applied. The other ranks may pull next step's rows
//    meanwhile (reads change nothing), but cannot push before the next
//    step's dense all-reduce, which waits for rank 0, which awaited every
//    shard's snapshot reply. So the copy holds exactly the validated rows.
//  - RollBack(): at the end of training, when no rank pushes any more; only
//    rank 0 writes results, after its RollBack() returned, and the servers
//    write the trained snapshot when the job ends, after rank 0 is done.
//  Other ranks must not read rows after RollBack() (they would see either
//  side of the restore); the Trainer reads none there. Method "full" refuses
//  elastic jobs, so the rank given at construction stays the rank.
class PsTrainableRows : public TrainableRows {
 public:
  // `client` (connected, no row cache) must outlive this; `rank` is this
  // worker's rank in the (static) group: rank 0 snapshots and restores.
  PsTrainableRows(ps::PsClient* client, int rank) : client_(client), rank_(rank) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override {
    return client_->Pull(keys, n, rows_out, nullptr);
  }
  Status Push(const uint64_t* keys, size_t n, const float* grads, uint64_t* applied) override;
  Status Snapshot() override;
  Status RollBack() override;
  int64_t num_trained_rows() const override { return -1; }

 private:
  ps::PsClient* client_;
  int rank_;
  int64_t snapshots_ = 0;  // rank 0: snapshots sent; the last one's tag is "best-<n>"
};

}  // namespace iak::worker

#endif  // IAK_WORKER_TRAINABLE_ROWS_H_
