// Reading users' text files (CSV, TSV, libsvm, libffm) into a Dataset as a
// schema says, in parallel, with a bad-line policy.
//
// Each file is read in blocks of TextReadOptions::block_bytes; a block is cut
// at line ends into one chunk per thread, the chunks are parsed concurrently
// and merged in file order, so the result (sample order, domain ids, the
// first bad line reported) is the same for any number of threads. Memory
// beyond the result is one block plus the per-chunk samples.
// ReadTextFilesChunked hands the result on in chunks of a bounded size
// instead (the streamed `iak data convert`); ReadTextFiles is one chunk.
//
// Thread-safety: ReadTextFiles touches only its arguments and the files.
#ifndef IAK_DATA_TEXT_READER_H_
#define IAK_DATA_TEXT_READER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/schema.h"

namespace iak::data {

enum class BadLinePolicy {
  kFail,  // the first malformed line fails the read (default)
  kSkip,  // malformed lines are skipped, counted, and the first few quoted
};

struct TextReadOptions {
  int num_threads = 2;                 // parsing threads, >= 1
  size_t block_bytes = 16 << 20;       // bytes read per block (a longer line grows it)
  // A line longer than this fails the read (whatever the bad-line policy):
  // a file without line breaks (a compressed or binary file given by
  // mistake) would otherwise be held whole in memory.
  size_t max_line_bytes = 64 << 20;
  // The samples parsed from one block (all threads' parts together) may
  // take at most this much memory, else the read fails naming the file and
  // block. Text parses to a few times its size, except a layout that stores
  // something per field of each sample whatever the line holds: a LIBFFM
  // schema with num_fields = 65,536 turns a two-byte line into 512 KiB of
  // offsets (docs/data.md, "Memory per sample").
  size_t max_block_parsed_bytes = size_t{2} << 30;
  BadLinePolicy bad_lines = BadLinePolicy::kFail;
  int max_error_examples = 5;          // kSkip: how many bad lines the report quotes
};

// What a read saw. Counts are of data lines (headers and blank lines excluded).
struct TextReadReport {
  int64_t lines_read = 0;
  int64_t samples = 0;
  int64_t click_positives = 0;
  int64_t conversion_positives = 0;
  int64_t bad_lines_skipped = 0;
  // "path:line: column N ('name'): expected ..., found '...'".
  std::vector<std::string> bad_line_examples;
  int64_t no_domain_dropped = 0;  // no domain rule held and no default_domain
  std::vector<int64_t> domain_counts;  // samples per domain, in domain_names order
  std::vector<std::string> domain_names;

  // A few lines for humans (the per-domain counts included).
  std::string ToString() const;
};

// How much a parser reserves up front for a chunk of `chunk_bytes` bytes of
// text with `num_fields` fields: a guess of the samples (a line per 64
// bytes), their offsets and keys, each capped by what the bytes can produce
// (every key and every offset past the first takes at least a byte of a
// delimited line), so a schema with 65,536 fields never reserves more
// elements than the chunk has bytes.
struct ChunkReserve {
  size_t samples = 0;
  size_t offsets = 0;
  size_t keys = 0;
};
ChunkReserve ReserveForChunk(size_t chunk_bytes, size_t num_fields);

// Memory held by the samples of `data` (keys, offsets, labels, domains,
// timestamps): what max_block_parsed_bytes counts.
size_t ParsedBytes(const Dataset& data);

// Reads `files` in order into one Dataset (fields from the schema). With a
// header (schema.has_header) each file's first line must list the schema's
// column names. Samples without a timestamp column get their index in the
// result as timestamp, so a time split follows file order. `report` may be
// null; when not, it is overwritten (also on error).
//
// Errors:
//   NotFoundError / IoError   a file is missing or unreadable (path named).
//   InvalidArgumentError      a header that does not match the schema, or
//     (policy kFail) the first malformed line: "path:line: column N ('name'):
//     expected ..., found '...'" plus how to skip such lines instead; or
//     a block whose samples take more than max_block_parsed_bytes.
[[nodiscard]] StatusOr<Dataset> ReadTextFiles(const CompiledSchema& schema,
                                              const std::vector<std::string>& files,
                                              const TextReadOptions& options,
                                              TextReadReport* report);

// Receives the successive chunks of a chunked read; a status other than OK
// stops the read and is what it returns.
using TextChunkSink = std::function<Status(Dataset chunk)>;

// Where a chunked read ends a chunk: before `samples` samples, and before
// the parsed samples (ParsedBytes) pass `parsed_bytes`, so a chunk of wide
// samples (libffm with many fields) holds at most parsed_bytes, or one
// thread's part of a block when that alone is more, not `samples` times
// their width.
struct TextChunkLimits {
  size_t samples = 500000;              // >= 1
  size_t parsed_bytes = size_t{1} << 30;  // >= 1
};

// ReadTextFiles in bounded memory: the same samples, handed to `sink` as
// successive Datasets within `limits` (a chunk ends early rather than copy a
// parsed part of a block across two; no call for a read of no samples), so their concatenation is ReadTextFiles' result. Each chunk
// has the schema's fields and the domain names seen so far (a prefix of the
// final list, which report->domain_names holds at the end; domain ids never
// change). Timestamp-less samples get their index in the
// whole read; bad lines are counted and quoted with their file and line as
// in ReadTextFiles. Memory: one chunk plus one block.
// Errors: those of ReadTextFiles, or the sink's; chunks already handed on
// stay with the caller.
[[nodiscard]] Status ReadTextFilesChunked(const CompiledSchema& schema,
                                          const std::vector<std::string>& files,
                                          const TextReadOptions& options,
                                          const TextChunkLimits& limits,
                                          const TextChunkSink& sink, TextReadReport* report);

}  // namespace iak::data

#endif  // IAK_DATA_TEXT_READER_H_
