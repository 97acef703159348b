// NewKeyRows: trainable embedding rows for the keys a frozen snapshot lacks,
// one table per fine-tuned unit (JobSpec.iak.new_key_rows,
// docs/new_key_rows.md).
//
// A unit's new keys are fixed before its first step: every key of its
// training samples that the frozen snapshot answers with no row (the servers
// and local tables answer an absent key with a zero row; a trained row is
// never exactly zero), seen in at least min_count samples, at most max_rows
// of them (most frequent first). Every rank holds the same data, so every
// rank finds the same keys in the same (ascending) order, and the rows are a
// dense block of parameters: the Trainer averages their gradients with the
// adapter's and validation keeps their best values with the adapter's.
//
// As a RowSource the table is an overlay: a key with a row of its own reads
// it, every other key reads the frozen source. Gradients of the pooled input
// reach only the new rows; a snapshot key never changes.
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_NEW_KEY_ROWS_H_
#define IAK_WORKER_NEW_KEY_ROWS_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "model/embedding_pooling.h"
#include "model/row_gradients.h"
#include "proto/job_spec.pb.h"
#include "ps/sparse_row_optimizer.h"
#include "worker/key_counts.h"
#include "worker/row_source.h"

namespace iak::worker {

enum class NewRowInit { kFieldMean, kZero };

struct NewKeyRowsOptions {
  NewRowInit init = NewRowInit::kZero;
  bool adam = false;             // false: Adagrad (ps::AdagradRowStep)
  float learning_rate = 0.02f;   // every phase
  int min_count = 1;
  int max_rows = 0;  // 0 = no cap
};

// The options of an enabled spec (defaults filled in); InvalidArgument naming
// the field for an unknown init or a negative count.
[[nodiscard]] StatusOr<NewKeyRowsOptions> NewKeyRowsOptionsFor(const proto::NewKeyRowsSpec& spec);

// Where a unit's rows are written next to its adapter: <dir>/<name>.rows.
std::string NewKeyRowsPath(const std::string& dir, const std::string& name);

class NewKeyRows : public RowSource {
 public:
  // Finds the new keys of samples `train_ids` of `data` by reading their
  // rows from `frozen` (one Fetch per 4096 keys) and initialises their rows.
  // `frozen` (not owned) must outlive the table. Errors: the source's.
  [[nodiscard]] static StatusOr<NewKeyRows> Find(const data::Dataset& data,
                                                 const std::vector<uint32_t>& train_ids,
                                                 RowSource* frozen, int dim,
                                                 const NewKeyRowsOptions& options);
  // The same from keys counted over a unit's training samples (every field
  // of `num_fields`; a streamed job's, worker/key_counts.h).
  [[nodiscard]] static StatusOr<NewKeyRows> FromCounts(const KeyCounts& counts, int num_fields,
                                                       RowSource* frozen, int dim,
                                                       const NewKeyRowsOptions& options);
  // A table of given keys (ascending, distinct) and rows [keys x dim] over
  // `frozen` (a loaded result). InvalidArgument on a size mismatch.
  [[nodiscard]] static StatusOr<NewKeyRows> FromRows(std::vector<uint64_t> keys,
                                                     std::vector<float> rows, RowSource* frozen,
                                                     int dim);

  // The overlay read: own rows for new keys, the frozen source's otherwise.
  // FailedPrecondition on a table loaded without a frozen source.
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override;
  // The own row of `key` (dim floats, valid while this lives) or null.
  const float* FindOwn(uint64_t key) const;

  // Adds the gradients of the keys of `grads` that have rows here to
  // row_grads [num_values()] (layout of values()); others are dropped.
  void AccumulateGradients(const model::RowGradients& grads, float* row_grads) const;

  size_t num_rows() const { return keys_.size(); }
  size_t num_values() const { return rows_.size(); }
  int dim() const { return dim_; }
  const std::vector<uint64_t>& keys() const { return keys_; }
  const std::vector<float>& values() const { return rows_; }
  float* mutable_values() { return rows_.data(); }
  // A fingerprint of the key list (checkpoints refuse another key set).
  uint64_t KeyFingerprint() const;

  // The keys and rows as a self-describing blob (magic, dim, count, keys,
  // rows); Parse refuses a truncated or foreign blob with DataLoss.
  std::string Serialize() const;
  [[nodiscard]] static StatusOr<NewKeyRows> Parse(std::string_view blob, RowSource* frozen);

 private:
  NewKeyRows(std::vector<uint64_t> keys, std::vector<float> rows, RowSource* frozen, int dim);

  std::vector<uint64_t> keys_;
  std::vector<float> rows_;  // [keys_ x dim_]
  std::unordered_map<uint64_t, uint32_t> index_;
  RowSource* frozen_;
  int dim_;
};

// A unit's rows over a frozen table held in this process (evaluation,
// prediction, export): its own rows for new keys, the table's otherwise.
class NewKeyRowLookup : public model::RowLookup {
 public:
  // Both (not owned) must outlive the lookup.
  NewKeyRowLookup(const NewKeyRows* rows, const model::RowLookup* frozen)
      : rows_(rows), frozen_(frozen) {}
  const float* Find(uint64_t key) const override {
    const float* own = rows_->FindOwn(key);
    return own != nullptr ? own : frozen_->Find(key);
  }

 private:
  const NewKeyRows* rows_;
  const model::RowLookup* frozen_;
};

// Writes `rows` to NewKeyRowsPath(dir, name) atomically; FailedPrecondition
// when a value is not finite.
[[nodiscard]] Status SaveNewKeyRows(const std::string& dir, const std::string& name,
                                    const NewKeyRows& rows);
// NotFound when the job wrote no rows for `name`; DataLoss naming the file
// when it is corrupt. `frozen` may be null when only FindOwn is used.
[[nodiscard]] StatusOr<NewKeyRows> LoadNewKeyRows(const std::string& dir, const std::string& name,
                                                  RowSource* frozen);
// For inference: the rows unit `name` trained (without a frozen source), or
// null when it trained none (no file). DataLoss naming a corrupt file.
[[nodiscard]] StatusOr<std::unique_ptr<NewKeyRows>> LoadNewKeyRowsIfAny(const std::string& dir,
                                                                        const std::string& name);

}  // namespace iak::worker

#endif  // IAK_WORKER_NEW_KEY_ROWS_H_
