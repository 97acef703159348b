#include "data/shard_set_convert.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <queue>
#include <sstream>
#include <system_error>
#include <utility>

#include "common/clock.h"
#include "data/shard_file.h"
#include "data/shard_set_writer.h"
#include "data/split.h"

namespace iak::data {
namespace {

using Clock = std::chrono::steady_clock;

// The runs' folder: created empty (a leftover of a killed convert removed),
// and removed with everything in it when the convert ends, failed or not.
class RunsFolder {
 public:
  explicit RunsFolder(std::string path) : path_(std::move(path)) {}
  ~RunsFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  RunsFolder(const RunsFolder&) = delete;
  RunsFolder& operator=(const RunsFolder&) = delete;

  Status Create() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (!std::filesystem::create_directories(path_, ec) || ec) {
      return IoError("cannot create the temporary folder " + path_ + ": " + ec.message() +
                     " (is the output folder writable?)");
    }
    return Status::Ok();
  }
  std::string RunDir(size_t run) const {
    char name[32];
    std::snprintf(name, sizeof(name), "/run-%05zu", run);
    return path_ + name;
  }

 private:
  std::string path_;
};

// Writes `chunk` as run `dir`: a one-shard set, in DomainTimeOrder when
// `sorted`, written with light compression (it is read once).
Status WriteRun(const Dataset& chunk, bool sorted, const ShardFileOptions& file,
                const std::string& dir) {
  const ShardSetLayout layout = LayoutOf(chunk);
  ShardSetWriteOptions options;
  options.dir = dir;
  options.num_shards = 1;
  options.domain_ordered = sorted;
  options.file.block_samples = file.block_samples;
  options.file.zstd_level = std::min(file.zstd_level, 1);
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<ShardSetWriter> writer,
                       ShardSetWriter::Create(layout, proto::Schema(), {}, options));
  if (sorted) {
    const std::vector<uint64_t> order = DomainTimeOrder(chunk);
    IAK_RETURN_IF_ERROR(writer->AppendOrdered(chunk, order.data(), order.size()));
  } else {
    IAK_RETURN_IF_ERROR(writer->AppendRange(chunk, 0, chunk.size()));
  }
  return writer->Finish().status();
}

// A run being read back a block at a time.
struct RunCursor {
  size_t run = 0;
  std::unique_ptr<MappedShard> shard;
  size_t next_block = 0;
  Dataset block;  // the decoded block (the set's fields and every domain name)
  size_t pos = 0;  // next sample of `block`

  bool done() const { return pos >= block.size(); }
  int32_t domain() const { return block.domain[pos]; }
  int64_t timestamp() const { return block.timestamp[pos]; }

  // Moves to the next block when this one is used up (or none is decoded).
  Status Refill() {
    while (done() && next_block < shard->num_blocks()) {
      block.keys.clear();
      block.offsets.assign(1, 0);
      block.click.clear();
      block.conversion.clear();
      block.domain.clear();
      block.timestamp.clear();
      pos = 0;
      IAK_RETURN_IF_ERROR(shard->DecodeBlock(next_block++, &block));
    }
    return Status::Ok();
  }
};

// Whether run a's next sample goes before run b's: DomainTimeLess, ties to
// the earlier run (whose samples came first in the input).
bool RunBefore(const RunCursor& a, const RunCursor& b) {
  if (DomainTimeLess(a.domain(), a.timestamp(), b.domain(), b.timestamp())) return true;
  if (DomainTimeLess(b.domain(), b.timestamp(), a.domain(), a.timestamp())) return false;
  return a.run < b.run;
}

StatusOr<std::vector<RunCursor>> OpenRuns(const RunsFolder& folder, size_t num_runs,
                                          const ShardSetLayout& layout) {
  std::vector<RunCursor> runs(num_runs);
  for (size_t r = 0; r < num_runs; ++r) {
    RunCursor& c = runs[r];
    c.run = r;
    // Not verified whole at open (that would page every run in at once):
    // DecodeBlock checks each block's checksum as the merge reaches it.
    IAK_ASSIGN_OR_RETURN(c.shard, MappedShard::Open(folder.RunDir(r) + "/shard-00000-of-00001.iaks",
                                                    /*verify=*/false));
    c.block.fields = layout.fields;
    c.block.domain_names = layout.domain_names;
    IAK_RETURN_IF_ERROR(c.Refill());
  }
  return runs;
}

// Counts the samples handed on and reports every tenth of the set (at least
// a chunk apart).
class MergeProgress {
 public:
  MergeProgress(const ConvertOptions& options, const char* verb, size_t runs, uint64_t total)
      : options_(options), verb_(verb), runs_(runs), total_(total),
        every_(std::max<uint64_t>(options.chunk.samples, total / 10 + 1)), next_(every_) {}
  void Add(uint64_t samples) {
    done_ += samples;
    if (!options_.progress || (done_ < next_ && done_ < total_)) return;
    std::ostringstream line;
    line << "convert: " << verb_ << " " << done_ << " of " << total_ << " samples from "
         << runs_ << " runs in " << SecondsSince(start_) << " s";
    options_.progress(line.str());
    while (next_ <= done_) next_ += every_;
  }

 private:
  const ConvertOptions& options_;
  const char* verb_;
  size_t runs_;
  uint64_t total_, every_, next_, done_ = 0;
  Clock::time_point start_ = Clock::now();
};

// Streams the sorted runs into `writer` in DomainTimeOrder: a k-way merge
// over a heap of the runs' next samples. Each step hands on the longest
// stretch of one run's block that goes before every other run's next sample.
Status MergeRuns(std::vector<RunCursor>* runs, MergeProgress* progress, ShardSetWriter* writer) {
  const auto later = [runs](size_t a, size_t b) { return RunBefore((*runs)[b], (*runs)[a]); };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t r = 0; r < runs->size(); ++r) {
    if (!(*runs)[r].done()) heap.push(r);
  }
  while (!heap.empty()) {
    RunCursor& c = (*runs)[heap.top()];
    heap.pop();
    const size_t begin = c.pos;
    if (heap.empty()) {
      c.pos = c.block.size();
    } else {
      const RunCursor& next = (*runs)[heap.top()];
      do {
        ++c.pos;
      } while (!c.done() && RunBefore(c, next));
    }
    IAK_RETURN_IF_ERROR(writer->AppendRange(c.block, begin, c.pos));
    progress->Add(c.pos - begin);
    IAK_RETURN_IF_ERROR(c.Refill());
    if (!c.done()) heap.push(c.run);
  }
  return Status::Ok();
}

// Streams the runs into `writer` one after the other (the input order).
Status ConcatRuns(std::vector<RunCursor>* runs, MergeProgress* progress, ShardSetWriter* writer) {
  for (RunCursor& c : *runs) {
    while (!c.done()) {
      IAK_RETURN_IF_ERROR(writer->AppendRange(c.block, c.pos, c.block.size()));
      progress->Add(c.block.size() - c.pos);
      c.pos = c.block.size();
      IAK_RETURN_IF_ERROR(c.Refill());
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<proto::ShardSetManifest> ConvertTextToShardSet(const CompiledSchema& schema,
                                                        const std::vector<std::string>& files,
                                                        const ConvertOptions& options,
                                                        TextReadReport* report) {
  TextReadReport local;
  if (report == nullptr) report = &local;
  IAK_RETURN_IF_ERROR(CheckShardCount(options.write.num_shards));
  RunsFolder folder(options.write.dir + "/" + kConvertRunsDir);
  IAK_RETURN_IF_ERROR(folder.Create());
  const bool sorted = options.write.domain_ordered;
  size_t num_runs = 0;
  bool has_conversion = false;
  const auto t = Clock::now();
  const TextChunkSink write_run = [&](Dataset chunk) {
    has_conversion = has_conversion || chunk.has_conversion();
    IAK_RETURN_IF_ERROR(WriteRun(chunk, sorted, options.write.file, folder.RunDir(num_runs)));
    ++num_runs;
    if (options.progress) {
      std::ostringstream line;
      line << "convert: chunk " << num_runs << ": " << chunk.size() << " samples "
           << (sorted ? "sorted and " : "") << "written as a run (" << report->lines_read
           << " lines read, " << SecondsSince(t) << " s)";
      options.progress(line.str());
    }
    return Status::Ok();
  };
  IAK_RETURN_IF_ERROR(ReadTextFilesChunked(schema, files, options.read, options.chunk, write_run, report));
  ShardSetLayout layout;
  layout.fields = schema.fields;
  layout.domain_names = report->domain_names;
  layout.domain_counts = report->domain_counts;
  layout.num_samples = static_cast<uint64_t>(report->samples);
  layout.has_conversion = has_conversion;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<ShardSetWriter> writer,
                       ShardSetWriter::Create(layout, schema.schema, files, options.write));
  IAK_ASSIGN_OR_RETURN(std::vector<RunCursor> runs, OpenRuns(folder, num_runs, layout));
  MergeProgress progress(options, sorted ? "merged" : "copied", num_runs, layout.num_samples);
  IAK_RETURN_IF_ERROR(sorted ? MergeRuns(&runs, &progress, writer.get())
                             : ConcatRuns(&runs, &progress, writer.get()));
  runs.clear();
  return writer->Finish();
}

}  // namespace iak::data
