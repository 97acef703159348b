#include "collective/gloo_communicator.h"

#include <gloo/allreduce.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>
#include <vector>

namespace iak::collective {

namespace {

// Gloo's rendezvous calls a gloo::rendezvous::Store, which reports failures by
// exceptions. This adapter maps its calls onto our Store with the group's
// deadline and remembers the first failing Status, so Create() returns that
// (with its precise message) rather than the exception's text.
class GlooStoreAdapter : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(collective::Store* store, std::string prefix, Deadline deadline)
      : store_(store), prefix_(std::move(prefix)), deadline_(deadline) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    Check(store_->Set(prefix_ + key, std::string(data.begin(), data.end()), deadline_));
  }

  std::vector<char> get(const std::string& key) override {
    StatusOr<std::string> value = store_->Get(prefix_ + key, deadline_);
    Check(value.status());
    return std::vector<char>(value->begin(), value->end());
  }

  void wait(const std::vector<std::string>& keys) override { wait(keys, Duration::max()); }

  // Gloo passes the context's timeout, which Create sets to a fifth of the
  // group's budget (see there); the group's deadline bounds the wait.
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& /*timeout*/) override {
    std::vector<std::string> full;
    for (const std::string& key : keys) full.push_back(prefix_ + key);
    Check(store_->Wait(full, deadline_));
  }

  const Status& failure() const { return failure_; }

 private:
  void Check(const Status& status) {
    if (status.ok()) return;
    if (failure_.ok()) failure_ = status;
    throw gloo::IoException(status.ToString());
  }

  collective::Store* store_;
  std::string prefix_;
  Deadline deadline_;
  Status failure_;
};

std::chrono::milliseconds TimeoutOf(Deadline deadline) {
  return std::chrono::milliseconds(std::max<int64_t>(1, deadline.RemainingMs()));
}

}  // namespace

StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(Store* store, int rank,
                                                                     int size,
                                                                     const GlooOptions& options,
                                                                     Deadline deadline) {
  const std::string who = "gloo group '" + options.prefix + "' (rank " + std::to_string(rank) +
                          " of " + std::to_string(size) + ")";
  if (size < 1 || rank < 0 || rank >= size) {
    return InvalidArgumentError(who + ": rank must be in [0, size) and size at least 1");
  }
  GlooStoreAdapter adapter(store, options.prefix, deadline);
  try {
    gloo::transport::tcp::attr attr;
    if (!options.iface.empty()) {
      attr.iface = options.iface;
    } else {
      attr.hostname = options.hostname;
    }
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    // Gloo's TCP pair waits up to 5x the context timeout for a peer to
    // connect (gloo/transport/tcp/pair.h, waitUntil: "Connect timeout"):
    // a peer that published its address and died (SIGKILLed while the group
    // formed) held a survivor 5x the deadline (10 s for a 2 s
    // collective_timeout_ms). A fifth keeps that wait within the deadline.
    // Every all-reduce sets its own timeout (AllReduceSum).
    context->setTimeout(std::max(std::chrono::milliseconds(1), TimeoutOf(deadline) / 5));
    context->connectFullMesh(adapter, device);
    return std::unique_ptr<GlooCommunicator>(
        new GlooCommunicator(std::move(context), rank, size, options.prefix));
  } catch (const std::exception& e) {
    if (!adapter.failure().ok()) {
      return Status(adapter.failure().code(), who + ": " + adapter.failure().message());
    }
    if (deadline.Expired()) {
      return DeadlineExceededError(who + ": the group was not formed before the deadline: " +
                                   e.what());
    }
    return UnavailableError(who + ": could not connect to its peers (check that '" +
                            (options.iface.empty() ? options.hostname : options.iface) +
                            "' is reachable from the other ranks): " + e.what());
  }
}

GlooCommunicator::GlooCommunicator(std::shared_ptr<gloo::Context> context, int rank, int size,
                                   std::string prefix)
    : context_(std::move(context)), rank_(rank), size_(size), prefix_(std::move(prefix)) {}

GlooCommunicator::~GlooCommunicator() = default;

Status GlooCommunicator::AllReduceSum(float* data, size_t n, Deadline deadline) {
  const std::string who = "gloo all-reduce on rank " + std::to_string(rank_) + " of group '" +
                          prefix_ + "'";
  if (!broken_.empty()) {
    return FailedPreconditionError(who + ": the group is unusable after an earlier failure (" +
                                   broken_ + "); re-form the group");
  }
  if (n == 0 || size_ == 1) return Status::Ok();
  if (deadline.Expired()) {
    return DeadlineExceededError(who + ": the deadline passed before it started");
  }
  try {
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(data, n);
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTag(next_tag_++);
    opts.setTimeout(TimeoutOf(deadline));
    gloo::allreduce(opts);
    return Status::Ok();
  } catch (const std::exception& e) {
    broken_ = e.what();
    if (deadline.Expired()) {
      return DeadlineExceededError(who + " did not complete before its deadline; a peer rank is "
                                         "stuck or dead (" + broken_ + ")");
    }
    return UnavailableError(who + " failed; a peer rank may have died (" + broken_ + ")");
  }
}

}  // namespace iak::collective
