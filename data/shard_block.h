// The compact coding of a run of samples inside a version-2 shard file
// (data/shard_file.h; byte table in docs/data.md). A block is coded field by
// field, so each field picks what is smallest for it:
//   - a field where every sample of the block has exactly one key stores no
//     per-sample counts (most fields: single-valued categoricals); otherwise
//     one varint count per sample;
//   - keys either as raw u64 (hashes of rare values do not compress) or as a
//     block dictionary of the distinct keys, most frequent first, plus one
//     varint index per key (one byte for the 128 most frequent keys);
//   - click and conversion as bitmaps, domains as (domain, run length) runs,
//     timestamps as zigzag varint deltas.
// The writer then compresses the block with zstd when that makes it smaller.
//
// Thread-safety: pure functions of their arguments.
#ifndef IAK_DATA_SHARD_BLOCK_H_
#define IAK_DATA_SHARD_BLOCK_H_

#include <cstddef>
#include <string>

#include "common/status.h"
#include "data/dataset.h"

namespace iak::data {

// Appends the coding of samples [begin, end) of `data` to *out.
// Precondition (CHECKed): labels are 0 or 1 and begin <= end <= data.size().
void EncodeShardBlock(const Dataset& data, size_t begin, size_t end, std::string* out);

// The most bytes the coding of `num_samples` samples of `num_fields` fields
// holding `num_keys` keys in all can take (every varint at its longest, every
// key coded the costlier way); saturates at UINT64_MAX. A reader sizes a
// decompression buffer by a block's stated size only once it is within this.
uint64_t MaxShardBlockBytes(uint64_t num_samples, uint64_t num_fields, uint64_t num_keys);

// Appends the `num_samples` samples coded in bytes [p, p + size) to *out
// (whose fields give the field count; with_conversion says whether the block
// holds conversion bitmaps; domains must be below out->domain_names.size()).
// DataLossError (saying what is wrong) for bytes that are not such a block;
// *out is then left with a partial block the caller must discard.
[[nodiscard]] Status DecodeShardBlock(const char* p, size_t size, size_t num_samples,
                                      bool with_conversion, Dataset* out);

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_BLOCK_H_
