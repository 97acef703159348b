// Pre-training as a job of the one Trainer (worker/trainer.h): what a
// JobSpec's `pretrain` block means for it.
//
// A pre-training job trains method "full" (the dense model plus the embedding
// rows, worker/dense_models.h) from a seeded random base model and an empty
// snapshot whose row store creates each row on its first push from a seeded
// per-key init (ps/sparse_row_optimizer.h SeededInitRow), with Adagrad on the
// rows and Adam on the dense parameters, as one training unit over every
// sample of the pre-training periods, for `epochs` passes, without
// validation. The same spec trains in one process (LocalMembership, a local
// overlay) or on a cluster (StaticMembership, trainable servers); see
// docs/pretraining.md.
//
// Thread-safety: pure functions of their arguments (ToPretrainingView changes
// only the JobData it is given).
#ifndef IAK_WORKER_PRETRAIN_SPEC_H_
#define IAK_WORKER_PRETRAIN_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/base_model.h"
#include "proto/job_spec.pb.h"
#include "worker/job_data.h"

namespace iak::worker {

// JobSpec.pretrain with its defaults in place (the proto's unset fields).
struct PretrainOptions {
  int epochs = 3;        // passes over the pre-training samples
  int batch_size = 256;  // samples per step (of each worker on a cluster)
  float dense_lr = 1e-3f;              // Adam on the dense parameters
  float embedding_lr = 0.05f;          // Adagrad on embedding rows
  float embedding_init_scale = 0.05f;  // new rows ~ U(-s, s), seeded per key
  uint64_t seed = 1;                   // init, data order, key dropout
  int embedding_dim = 16;
  std::vector<int> bottom_hidden{64, 32};  // last entry = dim of h
  std::vector<int> tower_hidden{32};
  // Key dropout (worker/key_dropout.h). `iak compare
  // --compare_dropout_sweep=...` measures it on the validation split
  // (docs/results.md), which chose 0.3: `iak pretrain` and `iak demo` use
  // that; the library default stays 0 (no dropout).
  float key_dropout = 0.0f;
  std::vector<std::string> key_dropout_fields{"user", "movie"};
};

// The pretrain block of `options` with `num_tasks` (0 = auto, 1, 2), every
// field set.
proto::PretrainSpec PretrainSpecOf(const PretrainOptions& options, int num_tasks);
// The options of a spec's pretrain block and seed (unset fields: defaults).
PretrainOptions PretrainOptionsOf(const proto::JobSpec& spec);

// The base model's shape for `options` on data with `num_fields` fields;
// InvalidArgument (from ValidateBaseModelConfig) when unusable.
[[nodiscard]] StatusOr<model::BaseModelConfig> PretrainBaseConfig(const PretrainOptions& options,
                                                                  int num_fields, int num_tasks);

// Every sample of the pre-training periods: they are never evaluated, so
// they need no held-out part.
data::SampleIds PretrainSampleIds(const JobData& job);

// InvalidArgument when `ids` is empty (naming the spec fields to check) or
// holds an id outside a dataset of `dataset_size` samples.
[[nodiscard]] Status CheckPretrainSamples(const data::SampleIds& ids, size_t dataset_size);

// Makes `job` what the Trainer trains in pre-training: one training unit
// (named after the first pre-training period) whose training ids are `ids`;
// nothing to validate or fine-tune besides; CheckPretrainSamples' errors. A
// streamed job (data.stream) trains the range PretrainRange() instead of
// `ids`, its batches read block by block like any streamed job's.
[[nodiscard]] Status ToPretrainingView(data::SampleIds ids, JobData* job);

// A streamed job's pre-training samples: the pre-training periods' parts as
// one range of the domain-ordered shard set. FailedPrecondition when they
// are not contiguous (pretrain_random_share); InvalidArgument when empty.
[[nodiscard]] StatusOr<data::IdRange> PretrainRange(const JobData& job);

// The Trainer's spec for pre-training the user's `spec` (its pretrain block
// enabled) on `num_samples` samples with `num_workers` workers, reading the
// seeded initial model from `initial_model_dir`: method "full", one phase of
// epochs * ceil(num_samples / (batch * workers)) steps at the dense learning
// rate, trainable rows (Adagrad, the embedding learning rate, seeded init,
// written to spec.model_dir), no validation, no resume; output_dir (rank 0 writes the
// dense weights there) defaults to <model_dir>.out.
proto::JobSpec PretrainTrainerSpec(const proto::JobSpec& spec, int64_t num_samples,
                                   int num_workers, const std::string& initial_model_dir);

}  // namespace iak::worker

#endif  // IAK_WORKER_PRETRAIN_SPEC_H_
