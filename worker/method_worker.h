// MethodWorker: one rank of a cluster job whose JobSpec.method is not an IAK
// adapter ("frozen", "dense", "lora", "full"; "iak" and "plain" run
// worker/worker.h). The same contract as Worker: it registers with the
// scheduler, follows its phases at barriers, pulls embedding rows from the
// parameter servers through PsClient, averages gradients over all workers
// with collective::Communicator (every wait has a deadline), and rank 0
// writes the result.
//
// Methods (one model per fine-tuned domain; step g trains domain g mod D, the
// same round-robin as the IAK worker; each phase's steps and learning rate
// are used as they are, its beta is ignored):
//   frozen  no training: passes the barriers, writes nothing; the evaluation
//           scores the base model.
//   dense   Adam on every dense parameter of a copy of the base model;
//           gradients all-reduced. Writes <output_dir>/models/<domain>.dense.
//   lora    LoRA (model/lora.h; JobSpec.lora rank, default 4, and alpha,
//           default the rank) on every dense layer; the
//           LoRA parameters' gradients all-reduced. Writes the merged dense
//           weights to <output_dir>/models/<domain>.dense.
//   full    "dense" plus the embedding rows: the gradient w.r.t. the pooled
//           input is mapped to per-key row gradients (model/row_gradients.h)
//           and pushed to trainable parameter servers (PsClient::Push), which
//           apply their per-row optimizer and write the trained snapshot.
//           Needs exactly one fine-tuned domain per job (the rows live once
//           on the servers; one domain's rows must not be trained by
//           another's batches) and trainable servers (JobSpec.trainable).
//
// Thread-safety: Run() on one thread; stats readable from any thread.
#ifndef IAK_WORKER_METHOD_WORKER_H_
#define IAK_WORKER_METHOD_WORKER_H_

#include <atomic>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "common/status.h"
#include "model/base_model.h"
#include "net/transport.h"
#include "scheduler/scheduler_client.h"
#include "worker/row_source.h"
#include "worker/worker.h"

namespace iak::worker {

// The methods MethodWorker runs (JobSpec.method); false for "iak"/"plain".
bool IsMethodWorkerMethod(const std::string& method);

// Where a method job's dense model for `domain` is written: <dir>/<domain>.dense.
std::string MethodModelPath(const std::string& output_dir, const std::string& domain);
// Loads it; NotFound naming the path when the job did not write it.
[[nodiscard]] StatusOr<model::BaseModel> LoadMethodModel(const std::string& output_dir,
                                                         const std::string& domain);

class MethodWorker {
 public:
  // `transport` and `communicator` must outlive the worker. options.spec has
  // its defaults applied and is valid.
  MethodWorker(WorkerOptions options, net::Transport* transport,
               collective::Communicator* communicator);

  // Runs the job to its end. OK when every phase finished (and, on rank 0,
  // the models were written).
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  // After Run: per fine-tuned domain the trained values (dense/full: every
  // dense parameter; lora: the LoRA parameters; frozen: none), identical on
  // every rank when the gradients were averaged correctly.
  const std::vector<std::vector<float>>& trained_params() const { return trained_params_; }
  const std::vector<std::string>& domain_names() const { return domain_names_; }
  int64_t steps_done() const { return steps_done_.load(); }
  // Mean training loss of the last logged window.
  double last_loss() const { return last_loss_.load(); }
  // full: rows the servers updated for this rank's pushes (summed over pushes).
  int64_t rows_pushed() const { return rows_pushed_.load(); }

 private:
  Status Train(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop);

  WorkerOptions options_;
  net::Transport* transport_;
  collective::Communicator* communicator_;
  std::vector<std::vector<float>> trained_params_;
  std::vector<std::string> domain_names_;
  std::atomic<int64_t> steps_done_{0};
  std::atomic<int64_t> samples_done_{0};
  std::atomic<double> last_loss_{0.0};
  std::atomic<int64_t> rows_pushed_{0};
  PullMonitor pull_monitor_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_METHOD_WORKER_H_
