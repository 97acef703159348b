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
  // frozen() is a table in this process, or, where it fetches (the
  // servers), where its rows of data's keys fit the pinned-rows budget: a
  // PinnedRowSource then keeps them, each pulled once (after Connect). Null
  // where rows are pulled per batch. Kept while this access lives, so every
  // later run over the same dataset pools with no lookups at all; made again
  // for another dataset or dim. `data` must outlive this access and not
  // change.
  ResolvedRows* ResolvedFrozen(const data::Dataset* data, int dim);

 protected:
  // Bytes a fetching frozen() may keep for ResolvedFrozen; 0 = none.
  void set_pinned_rows_budget(uint64_t bytes) { pinned_rows_budget_ = bytes; }

 private:
  uint64_t pinned_rows_budget_ = 0;
  // What resolved_ was made (or refused) for.
  bool made_ = false;
  const data::Dataset* made_data_ = nullptr;
  int made_dim_ = 0;
  RowSource* made_source_ = nullptr;
  std::unique_ptr<PinnedRowSource> pinned_;
  std::unique_ptr<ResolvedRows> resolved_;
};

class PsRowAccess : public RowAccess {
 public:
  // `inputs`, `transport` and `monitor` (may be null) must outlive this.
  PsRowAccess(const proto::JobSpec& spec, const TrainingInputs* inputs, std::string name,
              net::Transport* transport, PullMonitor* monitor);
  Status Connect(const std::vector<proto::ServerAddress>& servers, int rank) override;
  RowSource* frozen() override { return source_.get(); }
  StatusOr<TrainableRows*> trainable(int unit) override;

 private:
  proto::JobSpec spec_;
  const TrainingInputs* inputs_;
  std::string name_;
  net::Transport* transport_;
  PullMonitor* monitor_;
  std::unique_ptr<ps::PsClient> client_;
  std::unique_ptr<PsRowSource> source_;
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
  // `source` (not owned) must outlive this; a fetching source's rows of a
  // dataset are kept up to `pinned_rows_budget` bytes (ResolvedFrozen).
  explicit SourceRowAccess(RowSource* source, uint64_t pinned_rows_budget = 0)
      : source_(source) {
    set_pinned_rows_budget(pinned_rows_budget);
  }
  Status Connect(const std::vector<proto::ServerAddress>&, int) override { return Status::Ok(); }
  RowSource* frozen() override { return source_; }
  StatusOr<TrainableRows*> trainable(int unit) override;

 private:
  RowSource* source_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_ROW_ACCESS_H_
