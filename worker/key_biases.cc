#include "worker/key_biases.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "common/file_util.h"
#include "common/fingerprint.h"
#include "data/field_names.h"
#include "model/byte_io.h"
#include "model/finite_check.h"
#include "worker/adapter_store.h"
#include "worker/domain_file_name.h"

namespace iak::worker {
namespace {

constexpr uint32_t kMagic = 0x424b4149;  // "IAKB"
constexpr uint32_t kVersion = 1;
constexpr uint64_t kFingerprintTag = 0x53414942;  // "BIAS"

}  // namespace

StatusOr<KeyBiasesOptions> KeyBiasesOptionsFor(const proto::KeyBiasesSpec& spec,
                                               const data::Dataset& data) {
  KeyBiasesOptions options;
  if (spec.fields().empty()) {
    return InvalidArgumentError(
        "iak.key_biases is enabled but names no fields: list the fields whose keys get a bias, "
        "e.g. key_biases { enabled: true fields: [\"user\", \"movie\"] }");
  }
  IAK_ASSIGN_OR_RETURN(
      options.fields,
      data::FieldIndicesByName(data.fields, {spec.fields().begin(), spec.fields().end()},
                               "iak.key_biases.fields"));
  if (spec.learning_rate() < 0) {
    return InvalidArgumentError("iak.key_biases.learning_rate must be >= 0");
  }
  if (spec.learning_rate() > 0) options.learning_rate = spec.learning_rate();
  if (spec.min_count() < 0) return InvalidArgumentError("iak.key_biases.min_count must be >= 0");
  if (spec.min_count() > 0) options.min_count = spec.min_count();
  return options;
}

std::string KeyBiasesPath(const std::string& dir, const std::string& name) {
  return dir + "/" + DomainFileStem(name) + ".bias";
}

KeyBiases::KeyBiases(std::vector<uint64_t> keys, std::vector<float> values)
    : keys_(std::move(keys)), values_(std::move(values)) {
  index_.reserve(keys_.size());
  for (size_t i = 0; i < keys_.size(); ++i) index_.emplace(keys_[i], static_cast<uint32_t>(i));
}

KeyBiases KeyBiases::Find(const data::Dataset& data, const std::vector<uint32_t>& train_ids,
                          const KeyBiasesOptions& options) {
  KeyCounts counts;
  counts.Add(data, train_ids, options.fields);
  return FromCounts(counts, options.min_count);
}

KeyBiases KeyBiases::FromCounts(const KeyCounts& counts, int min_count) {
  std::vector<uint64_t> keys;  // ascending: every rank lists them alike
  for (const auto& [key, use] : counts.uses()) {
    if (use.count >= min_count) keys.push_back(key);
  }
  std::vector<float> values(keys.size(), 0.0f);
  return KeyBiases(std::move(keys), std::move(values));
}

StatusOr<KeyBiases> KeyBiases::FromValues(std::vector<uint64_t> keys, std::vector<float> values) {
  if (keys.size() != values.size()) {
    return InvalidArgumentError("key biases: " + std::to_string(keys.size()) + " keys but " +
                                std::to_string(values.size()) + " values");
  }
  for (size_t i = 1; i < keys.size(); ++i) {
    if (keys[i] <= keys[i - 1]) {
      return InvalidArgumentError("key biases: keys must be ascending and distinct");
    }
  }
  return KeyBiases(std::move(keys), std::move(values));
}

int64_t KeyBiases::IndexOf(uint64_t key) const {
  auto it = index_.find(key);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

void KeyBiases::Offsets(const data::Dataset& data, const uint32_t* ids, int n,
                        float* offsets) const {
  const size_t fields = static_cast<size_t>(data.num_fields());
  for (int i = 0; i < n; ++i) {
    const size_t begin = data.offsets[ids[i] * fields];
    const size_t end = data.offsets[(ids[i] + 1) * fields];
    float sum = 0.0f;
    for (size_t k = begin; k < end; ++k) {
      const int64_t j = IndexOf(data.keys[k]);
      if (j >= 0) sum += values_[static_cast<size_t>(j)];
    }
    offsets[i] = sum;
  }
}

void KeyBiases::AccumulateGradients(const data::Dataset& data, const uint32_t* ids, int n,
                                    const float* dlogit, int stride, float* grads) const {
  const size_t fields = static_cast<size_t>(data.num_fields());
  for (int i = 0; i < n; ++i) {
    const float g = dlogit[static_cast<size_t>(i) * stride];
    for (size_t k = data.offsets[ids[i] * fields]; k < data.offsets[(ids[i] + 1) * fields]; ++k) {
      const int64_t j = IndexOf(data.keys[k]);
      if (j >= 0) grads[j] += g;
    }
  }
}

uint64_t KeyBiases::KeyFingerprint() const { return KeyListFingerprint(kFingerprintTag, keys_); }

std::string KeyBiases::Serialize() const {
  model::ByteWriter w;
  w.WriteU32(kMagic);
  w.WriteU32(kVersion);
  w.WriteU64s(keys_);
  w.WriteFloats(values_.data(), values_.size());
  return w.Release();
}

StatusOr<KeyBiases> KeyBiases::Parse(std::string_view blob) {
  model::ByteReader r(blob);
  uint32_t magic = 0, version = 0;
  if (!r.ReadU32(&magic) || magic != kMagic || !r.ReadU32(&version) || version != kVersion) {
    return DataLossError("not a key-biases file (bad magic or version)");
  }
  std::vector<uint64_t> keys;
  if (!r.ReadU64s(&keys)) return DataLossError("key-biases file: bad key count");
  std::vector<float> values;
  if (!r.ReadFloats(keys.size(), &values) || r.remaining() != 0) {
    return DataLossError("key-biases file: truncated or trailing values");
  }
  StatusOr<KeyBiases> table = FromValues(std::move(keys), std::move(values));
  if (!table.ok()) return DataLossError(table.status().message());
  return table;
}

Status SaveKeyBiases(const std::string& dir, const std::string& name, const KeyBiases& biases) {
  return WriteDomainResult(dir, KeyBiasesPath(dir, name), biases.values(), "key biases of " + name,
                           biases.Serialize());
}

StatusOr<std::unique_ptr<KeyBiases>> LoadKeyBiasesIfAny(const std::string& dir,
                                                        const std::string& name) {
  const std::string path = KeyBiasesPath(dir, name);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::unique_ptr<KeyBiases>();
  IAK_ASSIGN_OR_RETURN(std::string bytes, ReadDomainResult(path, "key biases", name));
  StatusOr<KeyBiases> biases = KeyBiases::Parse(bytes);
  if (!biases.ok()) return biases.status().WithContext(path);
  return std::make_unique<KeyBiases>(std::move(*biases));
}

}  // namespace iak::worker
