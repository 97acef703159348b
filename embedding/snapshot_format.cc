#include "embedding/snapshot_format.h"

#include <cstdio>

namespace iak::embedding {

std::string ShardDirName(int shard, int num_shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "shard-%05d-of-%05d", shard, num_shards);
  return name;
}

std::string JoinPath(const std::string& dir, const std::string& relative) {
  if (dir.empty()) return relative;
  if (dir.back() == '/') return dir + relative;
  return dir + "/" + relative;
}

std::string HexDigest(uint64_t digest) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(digest));
  return hex;
}

}  // namespace iak::embedding
