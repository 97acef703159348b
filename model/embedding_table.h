// EmbeddingTable: a local in-memory embedding table (key -> row), as built by
// the single-process pre-trainer and used by tests and offline evaluation,
// plus its RowLookup adapter for PoolBatch.
//
// Thread-safety: TableLookup only reads; safe to share while nobody writes
// the table.
#ifndef IAK_MODEL_EMBEDDING_TABLE_H_
#define IAK_MODEL_EMBEDDING_TABLE_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "model/embedding_pooling.h"

namespace iak::model {

using EmbeddingTable = std::unordered_map<uint64_t, std::vector<float>>;

class TableLookup : public RowLookup {
 public:
  // `table` must outlive the lookup.
  explicit TableLookup(const EmbeddingTable* table) : table_(table) {}

  const float* Find(uint64_t key) const override {
    auto it = table_->find(key);
    return it == table_->end() ? nullptr : it->second.data();
  }

 private:
  const EmbeddingTable* table_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_EMBEDDING_TABLE_H_
