// SparseRowOptimizer: the trainable state of one parameter-server shard, an
// fp32 overlay over the frozen snapshot rows (docs/trainable_ps.md).
//
// A row enters the overlay the first time a push touches it: its starting
// value is the snapshot's row decoded to float32, or for a key the snapshot
// lacks its absent row (AbsentRow(): a zero row, or with init_scale > 0 the
// seeded init row of SeededInitRow(), which pre-training starts every row
// from), the same row a pull of that key returned. From then on
// the overlay holds the row's current value and its optimizer state; rows never
// pushed stay in the snapshot untouched, so a frozen server never pays for it.
//
// Apply() takes one push: duplicate keys are summed first, then every
// distinct key gets exactly one optimizer step with the summed gradient g:
//
//   adagrad: acc += g*g;  w -= lr * g / (sqrt(acc) + eps)
//   adam:    t += 1;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
//            w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//
// with per-row accumulators acc, m, v (dim floats each, starting at zero) and
// a per-row step count t (lazy/sparse Adam: a row's bias correction counts
// only the pushes that touched it). All arithmetic is float32 in that order.
//
// Copyable: a copy is an independent overlay with the same rows, optimizer
// state and BaseReader (LocalTrainableRows and TrainableShard keep one as the
// best rows of a validation point); it costs bytes() plus the index again.
//
// Thread-safety: not thread-safe; the PS drives it from its RPC thread.
#ifndef IAK_PS_SPARSE_ROW_OPTIMIZER_H_
#define IAK_PS_SPARSE_ROW_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::ps {

enum class RowOptimizerKind { kAdagrad = 0, kAdam = 1 };

struct RowOptimizerOptions {
  RowOptimizerKind kind = RowOptimizerKind::kAdagrad;
  float learning_rate = 0.02f;
  float epsilon = 1e-8f;  // both optimizers
  float beta1 = 0.9f;     // adam
  float beta2 = 0.999f;   // adam
  // The row of a key the snapshot lacks, read and trained from: 0 = a zero
  // row; > 0 = SeededInitRow(init_seed, init_scale, key), uniform in
  // +-init_scale (pre-training, which starts from an empty snapshot).
  float init_scale = 0.0f;
  uint64_t init_seed = 0;
};

// The init row of `key`: column j is uniform in [-scale, scale), a pure
// function of (seed, key, j) (a counter-based hash, no generator state), so
// a row starts the same whichever server, worker or push creates it and in
// whatever order. The one implementation of it: the servers' overlay and the
// local one both reach it through SparseRowOptimizer::AbsentRow().
void SeededInitRow(uint64_t seed, float scale, uint64_t key, int dim, float* out);

// "adagrad" (also when empty) or "adam"; InvalidArgument naming both otherwise.
// One Adagrad step of one row (the formula above): acc += g*g; w -= lr * g /
// (sqrt(acc) + eps). A zero gradient leaves w and acc as they are. Shared
// with the workers' new-key rows (worker/new_key_rows.h).
void AdagradRowStep(float* w, float* acc, const float* g, size_t dim, float lr, float eps);

[[nodiscard]] StatusOr<RowOptimizerKind> ParseRowOptimizer(const std::string& name);
const char* RowOptimizerName(RowOptimizerKind kind);

class SparseRowOptimizer {
 public:
  // Fills `out` (dim floats) with the snapshot row of `keys[i]` for each of
  // keys[0..n), zero for absent keys, and returns per key whether it was
  // present (`present[i]`). Used once per row, when it enters the overlay.
  using BaseReader = std::function<Status(const uint64_t* keys, size_t n, float* out,
                                          std::vector<bool>* present)>;

  SparseRowOptimizer(int dim, RowOptimizerOptions options, BaseReader base);

  // Applies one push of n keys with n * dim gradients (row i for keys[i]).
  // InvalidArgument (naming the key, nothing applied) when a gradient is not
  // finite. Returns the number of distinct keys updated; `created` (may be
  // null) gets how many of them were absent from the snapshot.
  [[nodiscard]] StatusOr<uint64_t> Apply(const uint64_t* keys, size_t n, const float* grads,
                                         uint64_t* created);

  // The overlay row of `key` (dim floats, valid until the next Apply), or
  // nullptr when no push has touched it. `*created` (may be null): whether
  // the key was absent from the snapshot.
  const float* Find(uint64_t key, bool* created) const;

  // The row of a key in neither the overlay nor the snapshot (dim floats
  // into `out`): zero, or the seeded init row when options.init_scale > 0.
  void AbsentRow(uint64_t key, float* out) const;
  bool inits_absent_rows() const { return options_.init_scale > 0.0f; }

  // Every overlay row, in no particular order.
  void ForEach(const std::function<void(uint64_t key, const float* row)>& visit) const;

  size_t num_rows() const { return keys_.size(); }
  size_t num_created() const { return num_created_; }
  int dim() const { return dim_; }
  const RowOptimizerOptions& options() const { return options_; }
  // Bytes of row values and optimizer state held.
  uint64_t bytes() const;

 private:
  static constexpr uint32_t kNoSlot = 0xffffffffu;
  // The overlay index: open addressing, linear probing, at most half full.
  uint32_t FindSlot(uint64_t key) const;
  uint32_t AddSlot(uint64_t key, const float* start, bool created);
  void Grow();
  void Step(uint32_t slot, const float* g);

  int dim_;
  RowOptimizerOptions options_;
  BaseReader base_;
  std::vector<uint64_t> index_keys_;   // capacity (power of two)
  std::vector<uint32_t> index_slots_;  // kNoSlot = empty
  std::vector<uint64_t> keys_;    // per slot
  std::vector<bool> created_;     // per slot: absent from the snapshot
  std::vector<float> values_;     // slots * dim
  std::vector<float> state1_;     // adagrad: acc; adam: m
  std::vector<float> state2_;     // adam: v
  std::vector<uint32_t> steps_;   // adam: t
  size_t num_created_ = 0;
  // Per-Apply scratch: a slot seen in push number `epoch_` has
  // seen_epoch_[slot] == epoch_ and its summed gradient at push_position_[slot].
  uint32_t epoch_ = 0;
  std::vector<uint32_t> seen_epoch_;
  std::vector<uint32_t> push_position_;
  std::vector<uint32_t> distinct_;  // slots, in first-occurrence order
  std::vector<float> summed_;
};

}  // namespace iak::ps

#endif  // IAK_PS_SPARSE_ROW_OPTIMIZER_H_
