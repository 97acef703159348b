// RowAccess: where a trainer's embedding rows come from, the seam between the
// Trainer (worker/trainer.h) and the parameter servers:
//   PsRowAccess     the job's servers over the transport (cluster workers):
//                   frozen rows pulled (row cache, replicas), trained rows
//                   pushed to trainable servers (full fine-tuning, one unit);
//   LocalRowAccess  a model directory's table opened in this process
//                   (single-process runs): frozen rows read directly, trained
//                   rows in a local overlay per unit;
//   SourceRowAccess an existing RowSource the caller owns (benchmarks: the
//                   W2 step bench trains the Trainer over its own in-process
//                   table or PS client); frozen rows only.
// Where the frozen rows are a table in this process, ResolvedFrozen() keeps
// a dataset's keys resolved to them for the access's life.
//
// Thread-safety: Connect() once, then the sources from one thread at a time.
#ifndef IAK_WORKER_ROW_ACCESS_H_
#define IAK_WORKER_ROW_ACCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "model/embedding_pooling.h"
#include "net/transport.h"
#include "proto/job_spec.pb.h"
#include "proto/wire.pb.h"
#include "ps/ps_client.h"
#include "worker/pinned_row_source.h"
#include "worker/resolved_rows.h"
#include "worker/row_source.h"
#include "worker/trainable_rows.h"
#include "worker/training_setup.h"

namespace iak::worker {

class RowAccess {
 public:
  virtual ~RowAccess() = default;
  // Before the first step: the servers of the first segment and this
  // worker's rank (which replica it reads first). Ignored by local access.
  [[nodiscard]] virtual Status Connect(const std::vector<proto::ServerAddress>& servers,
                                       int rank) = 0;
  // The frozen rows (after Connect).
  virtual RowSource* frozen() = 0;
  // The trainable rows of training unit `unit` (after Connect);
  // FailedPrecondition where the rows cannot be trained.
  [[nodiscard]] virtual StatusOr<TrainableRows*> trainable(int unit) = 0;

  // The frozen rows of `data`'s keys resolved once (ResolvedRows), where
  // frozen() is a table in this process or keeps its rows once pulled
  // (PinnedRowSource; after Connect); null where rows are pulled per batch.
  // Kept while this access lives, so every later run over the same dataset
  // pools with no lookups at all; made again for another dataset or dim.
  // `data` must outlive this access and not change.
  ResolvedRows* ResolvedFrozen(const data::Dataset* data, int dim);

 protected:
  // `source`'s rows of `data`'s keys kept once pulled, within
  // `budget_bytes` (PinnedRowSource), or null: budget 0, a source that
  // resolves its rows itself (a table in this process), or rows past the
  // budget (logged).
  static std::unique_ptr<PinnedRowSource> PinRows(const data::Dataset& data, RowSource* source,
                                                  int dim, uint64_t budget_bytes,
                                                  PullMonitor* monitor);

 private:
  std::unique_ptr<ResolvedRows> resolved_;
};

class PsRowAccess : public RowAccess {
 public:
  // `inputs`, `transport` and `monitor` (may be null) must outlive this.
  PsRowAccess(const proto::JobSpec& spec, const TrainingInputs* inputs, std::string name,
              net::Transport* transport, PullMonitor* monitor);
  Status Connect(const std::vector<proto::ServerAddress>& servers, int rank) override;
  // The servers' rows, kept once pulled where the job's in-memory data fits
  // JobSpec.pinned_rows_mb (then training batches and scoring pull each key
  // once per job).
  RowSource* frozen() override {
    return pinned_ != nullptr ? static_cast<RowSource*>(pinned_.get()) : source_.get();
  }
  StatusOr<TrainableRows*> trainable(int unit) override;

 private:
  proto::JobSpec spec_;
  const TrainingInputs* inputs_;
  std::string name_;
  net::Transport* transport_;
  PullMonitor* monitor_;
  std::unique_ptr<ps::PsClient> client_;
  std::unique_ptr<PsRowSource> source_;
  std::unique_ptr<PinnedRowSource> pinned_;  // over source_, or null
  std::unique_ptr<PsTrainableRows> trainable_;
};

class LocalRowAccess : public RowAccess {
 public:
  // `table` (not owned) must outlive this; trained rows use the spec's
  // trainable optimizer (default Adagrad, 0.02).
  LocalRowAccess(const proto::JobSpec& spec, const model::RowLookup* table, int dim);
  Status Connect(const std::vector<proto::ServerAddress>&, int) override { return Status::Ok(); }
  RowSource* frozen() override { return &source_; }
  StatusOr<TrainableRows*> trainable(int unit) override;
  // The overlay of unit `unit`'s trained rows (null before trainable(unit)).
  const LocalTrainableRows* local_trainable(int unit) const {
    return static_cast<size_t>(unit) < trainable_.size() ? trainable_[unit].get() : nullptr;
  }

 private:
  const model::RowLookup* table_;
  int dim_;
  ps::RowOptimizerOptions optimizer_;
  Status optimizer_error_;
  LookupRowSource source_;
  std::vector<std::unique_ptr<LocalTrainableRows>> trainable_;
};

// Frozen rows from a RowSource the caller already has; methods that train
// rows (trainable()) are refused with FailedPrecondition.
class SourceRowAccess : public RowAccess {
 public:
  // `source` (not owned) must outlive this.
  explicit SourceRowAccess(RowSource* source) : source_(source) {}
  // The same with `source`'s rows of `data`'s keys (rows of `dim` floats)
  // kept once pulled, within `pinned_rows_budget` bytes, as a job's workers
  // keep the servers' rows (PsRowAccess).
  SourceRowAccess(RowSource* source, const data::Dataset& data, int dim,
                  uint64_t pinned_rows_budget)
      : source_(source), pinned_(PinRows(data, source, dim, pinned_rows_budget, nullptr)) {}
  Status Connect(const std::vector<proto::ServerAddress>&, int) override { return Status::Ok(); }
  RowSource* frozen() override {
    return pinned_ != nullptr ? static_cast<RowSource*>(pinned_.get()) : source_;
  }
  StatusOr<TrainableRows*> trainable(int unit) override;

 private:
  RowSource* source_;
  std::unique_ptr<PinnedRowSource> pinned_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_ROW_ACCESS_H_
