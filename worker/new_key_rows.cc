#include "worker/new_key_rows.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "common/file_util.h"
#include "common/fingerprint.h"
#include "model/byte_io.h"
#include "model/finite_check.h"
#include "worker/adapter_store.h"
#include "worker/domain_file_name.h"

namespace iak::worker {
namespace {

constexpr uint32_t kMagic = 0x524b4e49;  // "INKR"
constexpr uint32_t kVersion = 1;
constexpr size_t kFetchChunk = 4096;

bool AllZero(const float* row, int dim) {
  for (int j = 0; j < dim; ++j) {
    if (row[j] != 0.0f) return false;
  }
  return true;
}

}  // namespace

StatusOr<NewKeyRowsOptions> NewKeyRowsOptionsFor(const proto::NewKeyRowsSpec& spec) {
  NewKeyRowsOptions options;
  if (spec.init() == "mean") {
    options.init = NewRowInit::kFieldMean;
  } else if (!spec.init().empty() && spec.init() != "zero") {
    return InvalidArgumentError("iak.new_key_rows.init '" + spec.init() +
                                "' is not known; choose \"mean\" or \"zero\"");
  }
  if (spec.optimizer() == "adam") {
    options.adam = true;
    options.learning_rate = 0.01f;
  } else if (!spec.optimizer().empty() && spec.optimizer() != "adagrad") {
    return InvalidArgumentError("iak.new_key_rows.optimizer '" + spec.optimizer() +
                                "' is not known; choose \"adagrad\" or \"adam\"");
  }
  if (spec.learning_rate() < 0) {
    return InvalidArgumentError("iak.new_key_rows.learning_rate must be >= 0");
  }
  if (spec.learning_rate() > 0) options.learning_rate = spec.learning_rate();
  if (spec.min_count() < 0 || spec.max_rows() < 0) {
    return InvalidArgumentError("iak.new_key_rows.min_count and max_rows must be >= 0");
  }
  options.min_count = std::max(1, spec.min_count());
  options.max_rows = spec.max_rows();
  return options;
}

std::string NewKeyRowsPath(const std::string& dir, const std::string& name) {
  return dir + "/" + DomainFileStem(name) + ".rows";
}

NewKeyRows::NewKeyRows(std::vector<uint64_t> keys, std::vector<float> rows, RowSource* frozen,
                       int dim)
    : keys_(std::move(keys)), rows_(std::move(rows)), frozen_(frozen), dim_(dim) {
  index_.reserve(keys_.size());
  for (size_t i = 0; i < keys_.size(); ++i) index_.emplace(keys_[i], static_cast<uint32_t>(i));
}

StatusOr<NewKeyRows> NewKeyRows::Find(const data::Dataset& data,
                                      const std::vector<uint32_t>& train_ids, RowSource* frozen,
                                      int dim, const NewKeyRowsOptions& options) {
  KeyCounts counts;
  counts.Add(data, train_ids);
  return FromCounts(counts, data.num_fields(), frozen, dim, options);
}

StatusOr<NewKeyRows> NewKeyRows::FromCounts(const KeyCounts& counts, int num_fields,
                                            RowSource* frozen, int dim,
                                            const NewKeyRowsOptions& options) {
  // Ascending keys, so every rank fetches and lists them alike.
  const std::map<uint64_t, KeyCounts::Use>& uses = counts.uses();
  std::vector<uint64_t> all;
  all.reserve(uses.size());
  for (const auto& [key, use] : uses) all.push_back(key);
  std::vector<float> rows(all.size() * static_cast<size_t>(dim));
  for (size_t begin = 0; begin < all.size(); begin += kFetchChunk) {
    const size_t n = std::min(kFetchChunk, all.size() - begin);
    IAK_RETURN_IF_ERROR(frozen->Fetch(all.data() + begin, n, rows.data() + begin * dim)
                            .WithContext("new-key rows: reading the snapshot's rows"));
  }
  // The field means over the keys the snapshot holds (the "mean" init).
  std::vector<double> sums(static_cast<size_t>(num_fields) * dim, 0.0);
  std::vector<int64_t> present(static_cast<size_t>(num_fields), 0);
  std::vector<std::pair<int64_t, uint64_t>> fresh;  // (-count, key)
  for (size_t i = 0; i < all.size(); ++i) {
    const float* row = rows.data() + i * dim;
    const KeyCounts::Use& use = uses.at(all[i]);
    if (!AllZero(row, dim)) {
      ++present[static_cast<size_t>(use.field)];
      for (int j = 0; j < dim; ++j) sums[static_cast<size_t>(use.field) * dim + j] += row[j];
    } else if (use.count >= options.min_count) {
      fresh.emplace_back(-use.count, all[i]);
    }
  }
  std::sort(fresh.begin(), fresh.end());
  if (options.max_rows > 0 && fresh.size() > static_cast<size_t>(options.max_rows)) {
    fresh.resize(static_cast<size_t>(options.max_rows));
  }
  std::vector<uint64_t> keys;
  keys.reserve(fresh.size());
  for (const auto& [negative_count, key] : fresh) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  std::vector<float> values(keys.size() * static_cast<size_t>(dim), 0.0f);
  if (options.init == NewRowInit::kFieldMean) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const size_t field = static_cast<size_t>(uses.at(keys[i]).field);
      if (present[field] == 0) continue;
      for (int j = 0; j < dim; ++j) {
        values[i * dim + j] = static_cast<float>(sums[field * dim + j] / present[field]);
      }
    }
  }
  return NewKeyRows(std::move(keys), std::move(values), frozen, dim);
}

StatusOr<NewKeyRows> NewKeyRows::FromRows(std::vector<uint64_t> keys, std::vector<float> rows,
                                          RowSource* frozen, int dim) {
  if (dim <= 0 || rows.size() != keys.size() * static_cast<size_t>(dim)) {
    return InvalidArgumentError("new-key rows: " + std::to_string(rows.size()) +
                                " values do not make " + std::to_string(keys.size()) +
                                " rows of " + std::to_string(dim));
  }
  for (size_t i = 1; i < keys.size(); ++i) {
    if (keys[i] <= keys[i - 1]) {
      return InvalidArgumentError("new-key rows: keys must be ascending and distinct");
    }
  }
  return NewKeyRows(std::move(keys), std::move(rows), frozen, dim);
}

const float* NewKeyRows::FindOwn(uint64_t key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : rows_.data() + static_cast<size_t>(it->second) * dim_;
}

Status NewKeyRows::Fetch(const uint64_t* keys, size_t n, float* rows_out) {
  if (frozen_ == nullptr) {
    return FailedPreconditionError("new-key rows loaded without the frozen rows to read through");
  }
  IAK_RETURN_IF_ERROR(frozen_->Fetch(keys, n, rows_out));
  for (size_t i = 0; i < n; ++i) {
    auto it = index_.find(keys[i]);
    if (it == index_.end()) continue;
    std::copy_n(rows_.data() + static_cast<size_t>(it->second) * dim_, dim_,
                rows_out + i * static_cast<size_t>(dim_));
  }
  return Status::Ok();
}

void NewKeyRows::AccumulateGradients(const model::RowGradients& grads, float* row_grads) const {
  const std::vector<uint64_t>& keys = grads.keys();
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = index_.find(keys[i]);
    if (it == index_.end()) continue;  // a snapshot key: frozen
    const float* g = grads.grads().data() + i * static_cast<size_t>(dim_);
    float* out = row_grads + static_cast<size_t>(it->second) * dim_;
    for (int j = 0; j < dim_; ++j) out[j] += g[j];
  }
}

uint64_t NewKeyRows::KeyFingerprint() const {
  return KeyListFingerprint(static_cast<uint64_t>(dim_), keys_);
}

std::string NewKeyRows::Serialize() const {
  model::ByteWriter w;
  w.WriteU32(kMagic);
  w.WriteU32(kVersion);
  w.WriteI32(dim_);
  w.WriteU64s(keys_);
  w.WriteFloats(rows_.data(), rows_.size());
  return w.Release();
}

StatusOr<NewKeyRows> NewKeyRows::Parse(std::string_view blob, RowSource* frozen) {
  model::ByteReader r(blob);
  uint32_t magic = 0, version = 0;
  int32_t dim = 0;
  if (!r.ReadU32(&magic) || magic != kMagic || !r.ReadU32(&version) || version != kVersion) {
    return DataLossError("not a new-key rows file (bad magic or version)");
  }
  std::vector<uint64_t> keys;
  if (!r.ReadI32(&dim) || dim <= 0 || dim > 65536 || !r.ReadU64s(&keys)) {
    return DataLossError("new-key rows file: bad width or row count");
  }
  std::vector<float> rows;
  if (!r.ReadFloats(keys.size() * static_cast<uint64_t>(dim), &rows) || r.remaining() != 0) {
    return DataLossError("new-key rows file: truncated or trailing rows");
  }
  StatusOr<NewKeyRows> table = FromRows(std::move(keys), std::move(rows), frozen, dim);
  if (!table.ok()) return DataLossError(table.status().message());
  return table;
}

Status SaveNewKeyRows(const std::string& dir, const std::string& name, const NewKeyRows& rows) {
  return WriteDomainResult(dir, NewKeyRowsPath(dir, name), rows.values(), "new-key rows of " + name,
                           rows.Serialize());
}

StatusOr<NewKeyRows> LoadNewKeyRows(const std::string& dir, const std::string& name,
                                    RowSource* frozen) {
  const std::string path = NewKeyRowsPath(dir, name);
  IAK_ASSIGN_OR_RETURN(std::string bytes, ReadDomainResult(path, "new-key rows", name));
  StatusOr<NewKeyRows> rows = NewKeyRows::Parse(bytes, frozen);
  if (!rows.ok()) return rows.status().WithContext(path);
  return rows;
}

StatusOr<std::unique_ptr<NewKeyRows>> LoadNewKeyRowsIfAny(const std::string& dir,
                                                          const std::string& name) {
  std::error_code ec;
  if (!std::filesystem::exists(NewKeyRowsPath(dir, name), ec)) {
    return std::unique_ptr<NewKeyRows>();
  }
  IAK_ASSIGN_OR_RETURN(NewKeyRows rows, LoadNewKeyRows(dir, name, nullptr));
  return std::make_unique<NewKeyRows>(std::move(rows));
}

}  // namespace iak::worker
