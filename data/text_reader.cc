#include "data/text_reader.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>

#include "data/csv_line.h"
#include "data/dataset_append.h"
#include "data/line_parser.h"

namespace iak::data {
namespace {

// The memory the samples parsed from one block take, summed over the
// threads parsing its chunks. Whether a block goes over the limit does not
// depend on the number of threads: a chunk stops only once the sum is past
// it, and each chunk adds all it parsed by its end.
struct BlockBudget {
  std::atomic<size_t> used{0};
  size_t limit = 0;

  // Adds `bytes`; false once the block's total is past the limit.
  bool Add(size_t bytes) {
    return used.fetch_add(bytes, std::memory_order_relaxed) + bytes <= limit;
  }
};

// A chunk adds to its block's budget every this many parsed bytes (and at
// its end), not every line: threads do not contend on the counter, and a
// block overshoots its limit by at most this much a thread (plus a line).
constexpr size_t kBudgetStepBytes = size_t{1} << 20;

// What one thread made of one chunk of a block.
struct ChunkResult {
  Dataset data;
  int64_t lines = 0;       // physical lines, blank ones included
  int64_t data_lines = 0;  // non-blank
  int64_t bad_count = 0;
  std::vector<std::pair<int64_t, std::string>> bad;  // (1-based line in chunk, problem)
  int64_t no_domain = 0;
  std::vector<std::string> domain_names;
  bool over_budget = false;  // stopped: the block's samples passed max_block_parsed_bytes
};

void ParseChunk(const CompiledSchema& schema, std::string_view text,
                const TextReadOptions& options, BlockBudget* budget, ChunkResult* result) {
  LineParser parser(schema);
  Dataset& data = result->data;
  data.fields = schema.fields;
  const ChunkReserve reserve = ReserveForChunk(text.size(), schema.fields.size());
  data.click.reserve(reserve.samples);
  data.offsets.reserve(reserve.offsets);
  data.keys.reserve(reserve.keys);
  size_t counted = 0;  // of ParsedBytes(data), added to the block's budget
  const size_t max_kept =
      options.bad_lines == BadLinePolicy::kFail ? 1 : static_cast<size_t>(options.max_error_examples);
  std::string problem;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t newline = text.find('\n', pos);
    const size_t end = newline == std::string_view::npos ? text.size() : newline;
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++result->lines;
    if (StripTrailingCr(line).empty()) continue;
    ++result->data_lines;
    const LineParser::Outcome outcome = parser.Parse(line, 0, &data, &problem);
    if (outcome == LineParser::Outcome::kSample) {
      const size_t parsed = ParsedBytes(data);
      if (parsed - counted >= kBudgetStepBytes) {
        result->over_budget = !budget->Add(parsed - counted);
        counted = parsed;
        if (result->over_budget) break;
      }
    } else if (outcome == LineParser::Outcome::kNoDomain) {
      ++result->no_domain;
    } else if (outcome == LineParser::Outcome::kBad) {
      ++result->bad_count;
      if (result->bad.size() < max_kept) result->bad.emplace_back(result->lines, problem);
      if (options.bad_lines == BadLinePolicy::kFail) break;
    }
  }
  if (!result->over_budget) result->over_budget = !budget->Add(ParsedBytes(data) - counted);
  result->domain_names = parser.domain_names();
}

// `a` * `b`, or SIZE_MAX when that overflows.
size_t SaturatingMul(size_t a, size_t b) {
  size_t product;
  return __builtin_mul_overflow(a, b, &product) ? std::numeric_limits<size_t>::max() : product;
}

// `block` cut at line ends into at most `parts` pieces of similar size.
std::vector<std::string_view> CutAtLines(std::string_view block, int parts) {
  std::vector<std::string_view> chunks;
  size_t start = 0;
  for (int p = 1; p <= parts && start < block.size(); ++p) {
    size_t end = block.size();
    if (p < parts) {
      const size_t target = std::max(start, block.size() * static_cast<size_t>(p) / parts);
      const size_t newline = block.find('\n', target);
      end = newline == std::string_view::npos ? block.size() : newline + 1;
    }
    chunks.push_back(block.substr(start, end - start));
    start = end;
  }
  return chunks;
}

Status CheckHeader(const CompiledSchema& schema, const std::string& path,
                   std::string_view line) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  line = StripTrailingCr(line);
  std::vector<std::string> names;
  if (schema.delimiter() == ',') {
    const Status split = SplitCsvLine(line, &names);
    if (!split.ok()) return InvalidArgumentError(path + ":1: header: " + split.message());
  } else {
    size_t start = 0;
    while (true) {
      const size_t tab = line.find('\t', start);
      names.emplace_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
  }
  const std::string hint = " (the schema lists the columns in file order; set has_header: false "
                           "for a file without a header)";
  if (names.size() != schema.columns.size()) {
    return InvalidArgumentError(path + ":1: the header has " + std::to_string(names.size()) +
                                " columns, the schema " + std::to_string(schema.columns.size()) +
                                hint);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != schema.columns[i].name) {
      return InvalidArgumentError(path + ":1: header column " + std::to_string(i + 1) + " is '" +
                                  names[i] + "', the schema's is '" + schema.columns[i].name +
                                  "'" + hint);
    }
  }
  return Status::Ok();
}

class FileCloser {
 public:
  explicit FileCloser(std::FILE* f) : f_(f) {}
  ~FileCloser() { std::fclose(f_); }
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;

 private:
  std::FILE* f_;
};

// Domain name -> index into the names seen so far, kept beside them so that
// merging each chunk's domains costs a hash lookup per name, not a scan of
// all names seen so far (300k distinct domains took 79 s that way).
using DomainIndex = std::unordered_map<std::string, int32_t>;

// What a chunked read carries from block to block and file to file.
struct ReadState {
  const CompiledSchema* schema = nullptr;
  const TextReadOptions* options = nullptr;
  TextChunkLimits limits;
  const TextChunkSink* sink = nullptr;
  TextReadReport* report = nullptr;
  Dataset pending;                       // samples parsed, not yet handed on
  std::vector<std::string> domain_names;  // every domain seen so far, in id order
  DomainIndex domain_index;
  int64_t emitted = 0;                   // samples handed on so far
};

// Hands `chunk` (samples [emitted, emitted + size) of the read) to the sink,
// after giving timestamp-less samples their index in the read and counting.
Status EmitChunk(Dataset chunk, ReadState* st) {
  TextReadReport* report = st->report;
  if (st->schema->timestamp_column < 0) {
    for (size_t i = 0; i < chunk.timestamp.size(); ++i) {
      chunk.timestamp[i] = st->emitted + static_cast<int64_t>(i);
    }
  }
  chunk.fields = st->schema->fields;
  chunk.domain_names = st->domain_names;
  report->samples += static_cast<int64_t>(chunk.size());
  report->domain_counts.resize(st->domain_names.size(), 0);
  for (int32_t d : chunk.domain) ++report->domain_counts[static_cast<size_t>(d)];
  for (float c : chunk.click) report->click_positives += c > 0.5f ? 1 : 0;
  for (float c : chunk.conversion) report->conversion_positives += c > 0.5f ? 1 : 0;
  st->emitted += static_cast<int64_t>(chunk.size());
  return (*st->sink)(std::move(chunk));
}

// A fresh pending Dataset. A chunked read sizes it for a chunk up front, so
// growing it never holds twice a chunk (single-valued fields: exactly).
Dataset NewPending(const ReadState& st) {
  Dataset d;
  d.fields = st.schema->fields;
  constexpr size_t kMaxReserved = size_t{1} << 26;  // ReadTextFiles: one chunk of all
  // A guess, not a limit: many fields (65,536 columns, a LIBFFM num_fields)
  // must not make it gigabytes before a line is read.
  constexpr size_t kMaxReservedEntries = size_t{1} << 25;  // 256 MiB of offsets
  if (st.limits.samples <= kMaxReserved) {
    const size_t n = st.limits.samples;
    const size_t entries = std::min({SaturatingMul(n, d.fields.size()), kMaxReservedEntries,
                                     st.limits.parsed_bytes / sizeof(uint64_t)});
    d.keys.reserve(entries);
    d.offsets.reserve(entries + 1);
    d.click.reserve(n);
    if (st.schema->has_conversion()) d.conversion.reserve(n);
    d.domain.reserve(n);
    d.timestamp.reserve(n);
  }
  return d;
}

// Hands on the pending samples: all of them (moved, not copied) with `all`,
// else only full chunks, cut off the front, keeping the rest pending.
Status EmitPending(bool all, ReadState* st) {
  const size_t n = st->pending.size();
  const size_t chunk = st->limits.samples;
  const bool full_in_bytes = ParsedBytes(st->pending) >= st->limits.parsed_bytes;
  if (n == 0 || (n < chunk && !full_in_bytes && !all)) return Status::Ok();
  if (n <= chunk) {
    Dataset whole = std::move(st->pending);
    st->pending = NewPending(*st);
    return EmitChunk(std::move(whole), st);
  }
  // More than a chunk: only when one thread's part of a block exceeds it.
  Dataset empty;
  empty.fields = st->schema->fields;
  size_t begin = 0;
  for (; begin + chunk <= n; begin += chunk) {
    Dataset part = empty;
    AppendSampleRange(st->pending, begin, begin + chunk, &part);
    IAK_RETURN_IF_ERROR(EmitChunk(std::move(part), st));
  }
  Dataset rest = NewPending(*st);
  AppendSampleRange(st->pending, begin, n, &rest);
  st->pending = std::move(rest);
  return all ? EmitPending(true, st) : Status::Ok();
}

Status OverBudget(const std::string& path, int64_t first_line, const CompiledSchema& schema,
                  const TextReadOptions& options) {
  const size_t fields = schema.fields.size();
  const bool ffm = schema.schema.format() == proto::FORMAT_LIBFFM;
  return InvalidArgumentError(
      path + ": the samples parsed from the block of lines starting at line " +
      std::to_string(first_line) + " take more than " +
      std::to_string(options.max_block_parsed_bytes >> 20) + " MiB; a sample holds 8 bytes " +
      "for each of the schema's " + std::to_string(fields) + " fields (" +
      std::to_string(fields * 8) + " bytes) plus 8 a key, used or not" +
      (ffm ? "; set the schema's num_fields to the fields the file uses"
           : "; is the file in the schema's format?"));
}

// Merges one block's chunk results, in order, into the pending samples and
// the report; `line_base` is the file line before the block.
Status MergeBlock(const std::string& path, std::vector<ChunkResult>* results, int64_t* line_base,
                  ReadState* st) {
  TextReadReport* report = st->report;
  const TextReadOptions& options = *st->options;
  const int64_t first_line = *line_base + 1;
  for (ChunkResult& r : *results) {
    report->lines_read += r.data_lines;
    for (const auto& [line, problem] : r.bad) {
      std::string where = path + ":" + std::to_string(*line_base + line) + ": " + problem;
      if (options.bad_lines == BadLinePolicy::kFail) {
        return InvalidArgumentError(
            where + " (fix the line, or skip and count malformed lines: `iak data` "
                    "--bad_lines=skip, `iak pretrain` --skip_bad_lines, a job's "
                    "data.skip_bad_lines)");
      }
      if (static_cast<int>(report->bad_line_examples.size()) < options.max_error_examples) {
        report->bad_line_examples.push_back(std::move(where));
      }
    }
    if (r.over_budget) return OverBudget(path, first_line, *st->schema, options);
    report->bad_lines_skipped += r.bad_count;
    report->no_domain_dropped += r.no_domain;
    std::vector<int32_t> domain_map;
    domain_map.reserve(r.domain_names.size());
    for (const std::string& name : r.domain_names) {
      const auto [it, added] =
          st->domain_index.emplace(name, static_cast<int32_t>(st->domain_names.size()));
      if (added) st->domain_names.push_back(name);
      domain_map.push_back(it->second);
    }
    // A chunk ends before a part that would overflow it, so chunks are
    // handed on without copying.
    if (st->pending.size() + r.data.size() > st->limits.samples ||
        (st->pending.size() > 0 &&
         ParsedBytes(st->pending) + ParsedBytes(r.data) > st->limits.parsed_bytes)) {
      IAK_RETURN_IF_ERROR(EmitPending(/*all=*/true, st));
    }
    AppendSamples(r.data, domain_map, &st->pending);
    IAK_RETURN_IF_ERROR(EmitPending(/*all=*/false, st));
    *line_base += r.lines;
  }
  return Status::Ok();
}

// Reads one file block by block into the pending samples, handing on full
// chunks as they fill.
Status ReadOneFile(const std::string& path, ReadState* st) {
  const CompiledSchema& schema = *st->schema;
  const TextReadOptions& options = *st->options;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError(path + ": no such file");
    return IoError(path + ": cannot open: " + std::strerror(err));
  }
  FileCloser closer(file);
  const bool is_svm = schema.schema.format() == proto::FORMAT_LIBSVM ||
                      schema.schema.format() == proto::FORMAT_LIBFFM;
  bool header_pending = schema.schema.has_header() && !is_svm;
  int64_t line_base = 0;
  std::string buffer;
  bool eof = false;
  const int threads = std::max(1, options.num_threads);
  const size_t block_bytes = std::max<size_t>(options.block_bytes, 4096);
  while (!eof) {
    const size_t old = buffer.size();
    buffer.resize(old + block_bytes);
    const size_t n = std::fread(&buffer[old], 1, block_bytes, file);
    buffer.resize(old + n);
    if (n < block_bytes) {
      if (std::ferror(file)) return IoError(path + ": read error after " +
                                            std::to_string(line_base) + " lines");
      eof = true;
    }
    size_t cut = buffer.size();
    if (!eof) {
      const size_t last = buffer.rfind('\n');
      if (last == std::string::npos) {  // a line longer than the block: read on, up to a bound
        if (buffer.size() > options.max_line_bytes) {
          return InvalidArgumentError(
              path + ": line " + std::to_string(line_base + 1) + " runs past " +
              std::to_string(options.max_line_bytes >> 20) +
              " MiB without a line break; is this an uncompressed text file in the schema's "
              "format (" + proto::FileFormat_Name(schema.schema.format()) + ")?");
        }
        continue;
      }
      cut = last + 1;
    }
    std::string_view block(buffer.data(), cut);
    if (header_pending) {
      if (block.empty()) {
        return InvalidArgumentError(path + ": empty file; the schema expects a header line");
      }
      const size_t newline = block.find('\n');
      const size_t end = newline == std::string_view::npos ? block.size() : newline;
      IAK_RETURN_IF_ERROR(CheckHeader(schema, path, block.substr(0, end)));
      block.remove_prefix(std::min(block.size(), end + 1));
      line_base = 1;
      header_pending = false;
    }
    const std::vector<std::string_view> chunks = CutAtLines(block, threads);
    std::vector<ChunkResult> results(chunks.size());
    std::vector<std::thread> workers;
    BlockBudget budget;
    budget.limit = options.max_block_parsed_bytes;
    for (size_t c = 1; c < chunks.size(); ++c) {
      workers.emplace_back(ParseChunk, std::cref(schema), chunks[c], std::cref(options), &budget,
                           &results[c]);
    }
    if (!chunks.empty()) ParseChunk(schema, chunks[0], options, &budget, &results[0]);
    for (std::thread& t : workers) t.join();
    IAK_RETURN_IF_ERROR(MergeBlock(path, &results, &line_base, st));
    buffer.erase(0, cut);
  }
  if (header_pending) {
    return InvalidArgumentError(path + ": empty file; the schema expects a header line");
  }
  return Status::Ok();
}

}  // namespace

ChunkReserve ReserveForChunk(size_t chunk_bytes, size_t num_fields) {
  ChunkReserve r;
  r.samples = chunk_bytes / 64 + 1;
  const size_t entries = SaturatingMul(r.samples, num_fields);
  r.offsets = std::min(entries, chunk_bytes) + 1;
  r.keys = std::min(entries, chunk_bytes);
  return r;
}

size_t ParsedBytes(const Dataset& data) {
  return (data.keys.size() + data.offsets.size()) * sizeof(uint64_t) +
         (data.click.size() + data.conversion.size()) * sizeof(float) +
         data.domain.size() * sizeof(int32_t) + data.timestamp.size() * sizeof(int64_t);
}

std::string TextReadReport::ToString() const {
  std::ostringstream os;
  os << lines_read << " lines -> " << samples << " samples (" << click_positives
     << " clicks, " << conversion_positives << " conversions), " << bad_lines_skipped
     << " bad lines skipped, " << no_domain_dropped << " dropped for no domain\nper domain:";
  for (size_t i = 0; i < domain_counts.size(); ++i) {
    os << " " << domain_names[i] << "=" << domain_counts[i];
  }
  for (const std::string& example : bad_line_examples) os << "\nskipped " << example;
  return os.str();
}

Status ReadTextFilesChunked(const CompiledSchema& schema, const std::vector<std::string>& files,
                            const TextReadOptions& options, const TextChunkLimits& limits,
                            const TextChunkSink& sink, TextReadReport* report) {
  TextReadReport local;
  if (report == nullptr) report = &local;
  *report = TextReadReport();
  if (files.empty()) return InvalidArgumentError("no input files given");
  ReadState st;
  st.schema = &schema;
  st.options = &options;
  st.limits.samples = std::max<size_t>(limits.samples, 1);
  st.limits.parsed_bytes = std::max<size_t>(limits.parsed_bytes, 1);
  st.sink = &sink;
  st.report = report;
  st.pending = NewPending(st);
  if (schema.domain_column < 0) st.domain_names = schema.domain_rules.domain_names();
  for (size_t d = 0; d < st.domain_names.size(); ++d) {
    st.domain_index.emplace(st.domain_names[d], static_cast<int32_t>(d));
  }
  for (const std::string& path : files) IAK_RETURN_IF_ERROR(ReadOneFile(path, &st));
  IAK_RETURN_IF_ERROR(EmitPending(/*all=*/true, &st));
  report->domain_names = st.domain_names;
  report->domain_counts.resize(st.domain_names.size(), 0);
  return Status::Ok();
}

StatusOr<Dataset> ReadTextFiles(const CompiledSchema& schema,
                                const std::vector<std::string>& files,
                                const TextReadOptions& options, TextReadReport* report) {
  TextReadReport local;
  if (report == nullptr) report = &local;
  Dataset out;
  out.fields = schema.fields;
  // One chunk of everything: the pending samples are moved, not copied.
  const TextChunkSink append = [&out](Dataset chunk) {
    if (out.size() == 0) {
      out = std::move(chunk);
    } else {
      AppendSamples(chunk, std::vector<int32_t>(), &out);
    }
    return Status::Ok();
  };
  TextChunkLimits whole;
  whole.samples = std::numeric_limits<size_t>::max();
  whole.parsed_bytes = std::numeric_limits<size_t>::max();
  IAK_RETURN_IF_ERROR(ReadTextFilesChunked(schema, files, options, whole, append, report));
  out.domain_names = report->domain_names;
  return out;
}

}  // namespace iak::data
