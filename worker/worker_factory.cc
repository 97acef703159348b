#include "worker/worker_factory.h"

#include "worker/method_worker.h"

namespace iak::worker {

WorkerRun RunWorkerForSpec(const WorkerOptions& options, net::Transport* transport,
                           collective::Communicator* communicator,
                           const std::atomic<bool>& stop) {
  WorkerRun run;
  if (IsMethodWorkerMethod(options.spec.method())) {
    MethodWorker worker(options, transport, communicator);
    run.status = worker.Run(stop);
    run.steps_done = worker.steps_done();
    run.domain_names = worker.domain_names();
    run.method_params = worker.trained_params();
    return run;
  }
  const std::string& method = options.spec.method();
  if (!method.empty() && method != "iak" && method != "plain") {
    run.status = InvalidArgumentError("job spec field 'method' = \"" + method +
                                      "\": unknown fine-tuning method; choose one of \"iak\", "
                                      "\"plain\", \"frozen\", \"dense\", \"lora\", \"full\"");
    return run;
  }
  // "iak", "plain" (ApplyDefaults set iak.plain_adapter) and unset.
  Worker worker(options, transport, communicator);
  run.status = worker.Run(stop);
  run.steps_done = worker.steps_done();
  run.domain_names = worker.domain_names();
  run.adapters = worker.adapters();
  return run;
}

}  // namespace iak::worker
