#include "ps/trainable_shard.h"

#include <cstring>
#include <filesystem>
#include <utility>

#include "embedding/row_codec.h"
#include "embedding/shard_scan.h"
#include "embedding/trained_snapshot.h"

namespace iak::ps {

TrainableShard::TrainableShard(const embedding::EmbeddingShard* base, std::string model_dir,
                               proto::ModelManifest manifest, RowOptimizerOptions options)
    : base_(base),
      model_dir_(std::move(model_dir)),
      manifest_(std::move(manifest)),
      optimizer_(base->dim(), options,
                 [this](const uint64_t* keys, size_t n, float* out, std::vector<bool>* present) {
                   return ReadBase(keys, n, out, present);
                 }) {}

Status TrainableShard::ReadBase(const uint64_t* keys, size_t n, float* out,
                                std::vector<bool>* present) const {
  const int dim = base_->dim();
  if (base_->in_memory()) {
    for (size_t i = 0; i < n; ++i) {
      const char* row = base_->FindEncoded(keys[i]);
      (*present)[i] = row != nullptr;
      if (row != nullptr) {
        embedding::DecodeRows(row, 1, dim, base_->dtype(), out + i * dim);
      } else {
        std::memset(out + i * dim, 0, sizeof(float) * dim);
      }
    }
    return Status::Ok();
  }
  std::string encoded(base_->row_bytes(), '\0');
  for (size_t i = 0; i < n; ++i) {
    // One key at a time: the only per-key presence a RocksDB-served shard
    // gives. Runs once per row, when it enters the overlay.
    StatusOr<uint64_t> missing = base_->ReadRows(keys + i, 1, encoded.data());
    IAK_RETURN_IF_ERROR(missing.status());
    (*present)[i] = *missing == 0;
    embedding::DecodeRows(encoded.data(), 1, dim, base_->dtype(), out + i * dim);
  }
  return Status::Ok();
}

StatusOr<uint64_t> TrainableShard::ReadRows(const uint64_t* keys, size_t n, float* out) {
  const size_t dim = static_cast<size_t>(base_->dim());
  if (optimizer_.inits_absent_rows()) return ReadRowsWithInit(keys, n, out);
  uint64_t missing = 0;
  if (base_->dtype() == embedding::RowDtype::kFloat32) {
    IAK_ASSIGN_OR_RETURN(missing, base_->ReadRows(keys, n, reinterpret_cast<char*>(out)));
  } else {
    encoded_.resize(n * base_->row_bytes());
    IAK_ASSIGN_OR_RETURN(missing, base_->ReadRows(keys, n, encoded_.data()));
    embedding::DecodeRows(encoded_.data(), n, base_->dim(), base_->dtype(), out);
  }
  if (optimizer_.num_rows() == 0) return missing;
  for (size_t i = 0; i < n; ++i) {
    bool created = false;
    const float* row = optimizer_.Find(keys[i], &created);
    if (row == nullptr) continue;
    std::memcpy(out + i * dim, row, dim * sizeof(float));
    if (created) --missing;
  }
  return missing;
}

StatusOr<uint64_t> TrainableShard::ReadRowsWithInit(const uint64_t* keys, size_t n,
                                                    float* out) {
  // Overlay rows first; the others from the snapshot with per-key presence
  // (ReadBase), the absent ones as their seeded init rows: every key has a
  // row, so none counts as missing.
  const size_t dim = static_cast<size_t>(base_->dim());
  std::vector<uint64_t> rest;
  std::vector<size_t> where;
  for (size_t i = 0; i < n; ++i) {
    const float* row = optimizer_.Find(keys[i], nullptr);
    if (row != nullptr) {
      std::memcpy(out + i * dim, row, dim * sizeof(float));
    } else {
      rest.push_back(keys[i]);
      where.push_back(i);
    }
  }
  if (rest.empty()) return uint64_t{0};
  std::vector<float> rows(rest.size() * dim);
  std::vector<bool> present(rest.size(), false);
  IAK_RETURN_IF_ERROR(ReadBase(rest.data(), rest.size(), rows.data(), &present));
  for (size_t j = 0; j < rest.size(); ++j) {
    float* to = out + where[j] * dim;
    if (present[j]) {
      std::memcpy(to, rows.data() + j * dim, dim * sizeof(float));
    } else {
      optimizer_.AbsentRow(rest[j], to);
    }
  }
  return uint64_t{0};
}

StatusOr<uint64_t> TrainableShard::Apply(const uint64_t* keys, size_t n, const float* grads,
                                         uint64_t* created) {
  StatusOr<uint64_t> applied = optimizer_.Apply(keys, n, grads, created);
  if (applied.ok()) ++pushes_;
  return applied;
}

void TrainableShard::SaveOverlay(const std::string& tag) {
  // Copy-on-snapshot: simple and exact (the copy is the live optimizer,
  // index and accumulators included); its cost is one overlay of memory and
  // one memcpy of it per new best validation point.
  saved_ = std::make_unique<SparseRowOptimizer>(optimizer_);
  saved_pushes_ = pushes_;
  saved_tag_ = tag;
}

Status TrainableShard::RestoreOverlay(const std::string& tag) {
  if (saved_ == nullptr) {
    return FailedPreconditionError("no overlay snapshot to restore (none was saved" +
                                   (tag.empty() ? std::string() : ", asked for '" + tag + "'") +
                                   "); the trained rows are unchanged");
  }
  if (!tag.empty() && tag != saved_tag_) {
    return FailedPreconditionError("the saved overlay snapshot is '" + saved_tag_ +
                                   "', not the '" + tag +
                                   "' asked for; the trained rows are unchanged");
  }
  optimizer_ = *saved_;
  pushes_ = saved_pushes_;
  return Status::Ok();
}

Status TrainableShard::WriteSnapshot(const std::string& out_dir) const {
  const int dim = base_->dim();
  const int shard = base_->shard();
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db,
                       embedding::OpenShardDb(model_dir_, manifest_, shard));
  std::vector<uint64_t> keys;
  std::vector<float> values;
  keys.reserve(base_->num_rows() + optimizer_.num_created());
  values.reserve(keys.capacity() * dim);
  std::vector<float> row(dim);
  IAK_RETURN_IF_ERROR(embedding::ScanShard(
      db.get(), model_dir_, manifest_, shard, [&](uint64_t key, const char* encoded) {
        const float* trained = optimizer_.Find(key, nullptr);
        if (trained == nullptr) {
          embedding::DecodeRows(encoded, 1, dim, base_->dtype(), row.data());
          trained = row.data();
        }
        keys.push_back(key);
        values.insert(values.end(), trained, trained + dim);
      }));
  optimizer_.ForEach([&](uint64_t key, const float* trained) {
    bool created = false;
    optimizer_.Find(key, &created);
    if (!created) return;  // already written over its snapshot row
    keys.push_back(key);
    values.insert(values.end(), trained, trained + dim);
  });
  proto::TrainedShardInfo info;
  info.mutable_shard()->set_index(shard);
  info.set_num_shards(manifest_.num_shards());
  info.set_embedding_dim(dim);
  // Absolute, so `iak snapshot finalize` works from any directory.
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(model_dir_, ec);
  info.set_source_model_dir(ec ? model_dir_ : absolute.lexically_normal().string());
  info.set_source_snapshot_id(manifest_.snapshot_id());
  info.set_optimizer(RowOptimizerName(optimizer_.options().kind));
  info.set_learning_rate(optimizer_.options().learning_rate);
  info.set_pushes(pushes_);
  info.set_rows_trained(optimizer_.num_rows());
  info.set_rows_created(optimizer_.num_created());
  return embedding::WriteTrainedShard(out_dir, info, keys, values);
}

}  // namespace iak::ps
