// LocalLookup: a model directory's embedding table opened in this process,
// seen through the RowLookup interface (evaluation and offline tools; training
// workers pull from the parameter servers instead).
#ifndef IAK_WORKER_LOCAL_LOOKUP_H_
#define IAK_WORKER_LOCAL_LOOKUP_H_

#include "embedding/model_directory.h"
#include "model/embedding_pooling.h"

namespace iak::worker {

class LocalLookup : public model::RowLookup {
 public:
  // `table` must outlive this object.
  explicit LocalLookup(const embedding::LocalEmbeddingTable* table) : table_(table) {}
  const float* Find(uint64_t key) const override { return table_->Find(key); }

 private:
  const embedding::LocalEmbeddingTable* table_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_LOCAL_LOOKUP_H_
