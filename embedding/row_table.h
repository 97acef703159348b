// RowTable: an embedding table read from a user's file, before it is written
// as a snapshot: parallel arrays of keys and float rows.
#ifndef IAK_EMBEDDING_ROW_TABLE_H_
#define IAK_EMBEDDING_ROW_TABLE_H_

#include <cstdint>
#include <vector>

namespace iak::embedding {

struct RowTable {
  int dim = 0;
  std::vector<uint64_t> keys;
  std::vector<float> values;  // keys.size() * dim; keys[i]'s row at i * dim
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_ROW_TABLE_H_
