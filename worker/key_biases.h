// KeyBiases: a trainable logit offset per key of named fields, one table per
// fine-tuned unit (JobSpec.iak.key_biases, docs/key_biases.md).
//
// A sample's CTR logit gains the sum of the biases of its keys: for
// MovieLens, how much more than the frozen model predicts this user likes
// movies in this domain, and this movie is liked in it. The frozen rows stay
// read-only; the biases are parameters of the unit, next to its adapter.
//
// A unit's keys are fixed before its first step: every key of the named
// fields in its training samples, seen in at least min_count of them, in
// ascending order. Every rank holds the same data, so every rank finds the
// same keys, and the biases are a dense block of parameters the Trainer
// averages and validation keeps like the adapter's. Keys are field-qualified
// (common/keys.h), so at inference the table needs no field list: a key it
// holds gets its bias, every other key none.
//
// Thread-safety: one thread; a const table may be read from many.
#ifndef IAK_WORKER_KEY_BIASES_H_
#define IAK_WORKER_KEY_BIASES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "proto/job_spec.pb.h"
#include "worker/key_counts.h"

namespace iak::worker {

struct KeyBiasesOptions {
  std::vector<int> fields;      // dataset field indices
  float learning_rate = 0.2f;  // Adagrad, every phase
  int min_count = 1;
};

// The options of an enabled spec for `data`'s fields (defaults filled in);
// InvalidArgument naming the field for no fields, an unknown or repeated
// field name, or a negative rate or count.
[[nodiscard]] StatusOr<KeyBiasesOptions> KeyBiasesOptionsFor(const proto::KeyBiasesSpec& spec,
                                                             const data::Dataset& data);

// Where a unit's biases are written next to its adapter: <dir>/<name>.bias.
std::string KeyBiasesPath(const std::string& dir, const std::string& name);

class KeyBiases {
 public:
  // The keys of `options.fields` in samples `train_ids` of `data`, biases 0.
  static KeyBiases Find(const data::Dataset& data, const std::vector<uint32_t>& train_ids,
                        const KeyBiasesOptions& options);
  // The same from keys counted over options.fields of a unit's training
  // samples (a streamed job's, worker/key_counts.h).
  static KeyBiases FromCounts(const KeyCounts& counts, int min_count);
  // A table of given keys (ascending, distinct) and biases; InvalidArgument
  // on a size mismatch or unordered keys.
  [[nodiscard]] static StatusOr<KeyBiases> FromValues(std::vector<uint64_t> keys,
                                                      std::vector<float> values);

  // offsets[i] = the sum of the biases of sample ids[i]'s keys (0 for keys
  // without one).
  void Offsets(const data::Dataset& data, const uint32_t* ids, int n, float* offsets) const;
  // Adds d loss / d bias to grads [num_values()]: every key of sample ids[i]
  // with a bias gets dlogit[i * stride].
  void AccumulateGradients(const data::Dataset& data, const uint32_t* ids, int n,
                           const float* dlogit, int stride, float* grads) const;

  size_t num_values() const { return values_.size(); }
  const std::vector<uint64_t>& keys() const { return keys_; }
  const std::vector<float>& values() const { return values_; }
  float* mutable_values() { return values_.data(); }
  // A fingerprint of the key list (checkpoints refuse another key set).
  uint64_t KeyFingerprint() const;
  // Magic, version, count, keys, values; Parse refuses a truncated or
  // foreign blob with DataLoss.
  std::string Serialize() const;
  [[nodiscard]] static StatusOr<KeyBiases> Parse(std::string_view blob);

 private:
  KeyBiases(std::vector<uint64_t> keys, std::vector<float> values);
  // The index of `key`'s bias, or -1.
  int64_t IndexOf(uint64_t key) const;

  std::vector<uint64_t> keys_;
  std::vector<float> values_;
  std::unordered_map<uint64_t, uint32_t> index_;
};

// Writes `biases` to KeyBiasesPath(dir, name) atomically; FailedPrecondition
// when a value is not finite.
[[nodiscard]] Status SaveKeyBiases(const std::string& dir, const std::string& name,
                                   const KeyBiases& biases);
// For inference: the biases unit `name` trained, or null when it trained
// none (no file). DataLoss naming a corrupt file.
[[nodiscard]] StatusOr<std::unique_ptr<KeyBiases>> LoadKeyBiasesIfAny(const std::string& dir,
                                                                      const std::string& name);

}  // namespace iak::worker

#endif  // IAK_WORKER_KEY_BIASES_H_
