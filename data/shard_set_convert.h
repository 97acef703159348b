// `iak data convert` in bounded memory: text files to a shard set without
// ever holding all the samples.
//
// The text is read in chunks within ConvertOptions::chunk, in samples and in
// parsed bytes (ReadTextFilesChunked). Each chunk is written to a temporary folder under
// the output folder as a run: a one-shard set of the chunk's samples, sorted
// in memory into DomainTimeOrder when the set is domain-ordered. Once the
// input is read, the number of samples and every domain name are known, so
// a ShardSetWriter is laid out and the runs are streamed into it: merged
// k ways (smallest (domain, timestamp) first, ties to the earlier run, then
// the earlier position in it), or, in input order, concatenated. Each run is
// stably sorted and runs hold consecutive parts of the input, so the merge
// is the stable global sort WriteShardSet does in memory, and the files are
// the same as WriteShardSet's of ReadTextFiles' result (tests/data).
//
// Memory: one chunk (and its sort order) while reading; one decoded block
// per run plus one output block while merging. Disk: the runs, about the
// size of the output, removed at the end and on failure.
//
// Thread-safety: touches only its arguments and the files.
#ifndef IAK_DATA_SHARD_SET_CONVERT_H_
#define IAK_DATA_SHARD_SET_CONVERT_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/schema.h"
#include "data/shard_set.h"
#include "data/text_reader.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

// The temporary folder of runs inside the output folder (a leftover from a
// killed convert is removed by the next convert into the same folder).
inline constexpr char kConvertRunsDir[] = ".convert-runs";

struct ConvertOptions {
  TextReadOptions read;
  ShardSetWriteOptions write;
  TextChunkLimits chunk;  // where a chunk (one sorted run) ends
  // Called with one line per chunk read and per stretch of the merge; may be
  // empty.
  std::function<void(const std::string&)> progress;
};

// Reads `files` with `schema` and writes them as the shard set
// WriteShardSet(ReadTextFiles(...)) would (same shard files and manifest),
// in the memory described above. `report` (may be null) is overwritten as
// by ReadTextFiles.
// Errors: those of ReadTextFiles (the malformed line named by file:line) and
// WriteShardSet; IoError naming the folder when the runs cannot be written.
// On any error the runs are removed.
[[nodiscard]] StatusOr<proto::ShardSetManifest> ConvertTextToShardSet(
    const CompiledSchema& schema, const std::vector<std::string>& files,
    const ConvertOptions& options, TextReadReport* report);

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_SET_CONVERT_H_
