// Pretrain: single-process pre-training of the base recommender (embedding
// table + dense model) on a subset of a Dataset. This produces the "general
// knowledge" model that fine-tuning later freezes; the distributed system
// loads its output into the parameter servers.
//
// Embedding rows are created on first sight of a key (uniform in
// +-embedding_init_scale) and updated sparsely with Adagrad; the dense
// parameters use Adam. Everything is deterministic given options.seed.
// Progress (mean training loss per epoch) goes to LOG(INFO).
//
// Thread-safety: Pretrain is reentrant; `data` is only read.
#ifndef IAK_MODEL_PRETRAINER_H_
#define IAK_MODEL_PRETRAINER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "model/base_model.h"
#include "model/embedding_table.h"

namespace iak::model {

struct PretrainOptions {
  int epochs = 3;
  int batch_size = 256;
  float dense_lr = 1e-3f;              // Adam on the dense parameters
  float embedding_lr = 0.05f;          // Adagrad on embedding rows
  float embedding_init_scale = 0.05f;  // new rows ~ U(-s, s)
  uint64_t seed = 1;                   // init, shuffling
  int embedding_dim = 16;
  std::vector<int> bottom_hidden{64, 32};  // last entry = dim of h
  std::vector<int> tower_hidden{32};
  int num_tasks = 1;  // 1 = CTR, 2 = ESMM (needs conversion labels)
  // Key dropout: with this probability, each named field of each training
  // sample is replaced by the zero "unknown" row (its pooled slice of x is
  // zeroed and its keys get no gradient from that sample). Serving sees zero
  // rows for keys the snapshot lacks (e.g. users new in a later period); this
  // shows the base model such inputs during pre-training. 0 = off. Fields
  // not in the data are ignored; a multi-valued field is dropped as a whole.
  // `iak compare --compare_dropout_sweep=...` measures it on the validation
  // split (docs/results.md), which chose 0.3: `iak pretrain` and `iak demo`
  // use that; the library default stays 0 (no dropout) for callers that ask
  // for nothing.
  float key_dropout = 0.0f;
  std::vector<std::string> key_dropout_fields{"user", "movie"};
};

struct PretrainResult {
  BaseModel model;
  EmbeddingTable table;
  std::vector<float> epoch_losses;  // mean training loss of each epoch
};

// InvalidArgument for unusable options, an empty or out-of-range `ids`, or
// num_tasks == 2 on data without conversion labels.
StatusOr<PretrainResult> Pretrain(const data::Dataset& data,
                                  const data::SampleIds& ids,
                                  const PretrainOptions& options);

}  // namespace iak::model

#endif  // IAK_MODEL_PRETRAINER_H_
