#include "data/shard_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include <zstd.h>

#include "data/checksum.h"
#include "data/shard_block.h"
#include "data/varint.h"

namespace iak::data {
namespace {

constexpr char kMagic[8] = {'I', 'A', 'K', 'S', 'H', 'R', 'D', '1'};
constexpr char kEndMagic[8] = {'I', 'A', 'K', 'S', 'E', 'N', 'D', '1'};
constexpr uint32_t kFlagConversion = 1;
constexpr uint32_t kBlockZstd = 1;  // a v2 block's flags
constexpr size_t kIndexEntryBytes = 32;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kFooterBytes = 16;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t num_fields;
  uint64_t num_samples;
  uint64_t num_keys;
  uint32_t meta_bytes;
  uint32_t flags;
  uint64_t num_blocks;     // v2; v1: 0
  uint64_t file_bytes;     // v2: the whole file's size; v1: 0
  uint64_t header_checksum;  // Checksum64 of the 56 bytes above
};
static_assert(sizeof(Header) == kHeaderBytes, "header layout");

// Byte offsets of each section from the start of the file.
struct Layout {
  size_t meta, offsets, keys, click, conversion, domain, timestamp, footer, total;
};

// Overflow-checked size arithmetic for the header's counts, which come from
// the file: a header with a valid checksum may still claim 2^61 samples.
class CheckedSize {
 public:
  explicit CheckedSize(uint64_t v) : value_(v) {}
  CheckedSize& Add(uint64_t v) {
    ok_ = ok_ && !__builtin_add_overflow(value_, v, &value_);
    return *this;
  }
  CheckedSize& Mul(uint64_t v) {
    ok_ = ok_ && !__builtin_mul_overflow(value_, v, &value_);
    return *this;
  }
  CheckedSize& Pad8() {
    Add(7);
    value_ &= ~uint64_t{7};
    return *this;
  }
  bool ok() const { return ok_; }
  uint64_t value() const { return value_; }

 private:
  uint64_t value_;
  bool ok_ = true;
};

// Fills *l; false when a section's size overflows 64 bits (the header then
// cannot describe any real file).
bool ComputeLayout(uint64_t n, uint64_t f, uint64_t k, uint32_t meta_bytes, bool conversion,
                   Layout* l) {
  const CheckedSize entries = CheckedSize(n).Mul(f).Add(1).Mul(8);
  const CheckedSize keys = CheckedSize(k).Mul(8);
  const CheckedSize f32 = CheckedSize(n).Mul(4).Pad8();
  const CheckedSize i64 = CheckedSize(n).Mul(8);
  if (!entries.ok() || !keys.ok() || !f32.ok() || !i64.ok()) return false;
  CheckedSize at(kHeaderBytes);
  l->meta = at.value();
  l->offsets = at.Add(meta_bytes).Pad8().value();
  l->keys = at.Add(entries.value()).value();
  l->click = at.Add(keys.value()).value();
  l->conversion = at.Add(f32.value()).value();
  l->domain = at.Add(conversion ? f32.value() : 0).value();
  l->timestamp = at.Add(f32.value()).value();
  l->footer = at.Add(i64.value()).value();
  l->total = at.Add(kFooterBytes).value();
  return at.ok() && at.value() <= std::numeric_limits<size_t>::max();
}

bool IsLittleEndian() {
  const uint16_t one = 1;
  unsigned char byte;
  std::memcpy(&byte, &one, 1);
  return byte == 1;
}

std::string Rerun(const std::string& path) {
  return " (" + path + "; rewrite the shard set with `iak data convert`)";
}

// `meta` with the fields and domain names of `data`.
proto::ShardMeta MetaFor(const Dataset& data, proto::ShardMeta meta) {
  meta.clear_fields();
  for (const FieldInfo& field : data.fields) {
    proto::FieldSchema* f = meta.add_fields();
    f->set_name(field.name);
    f->set_multi_valued(field.multi_valued);
    f->set_pooling(field.pooling == Pooling::kMean ? "mean" : "sum");
  }
  meta.clear_domain_names();
  for (const std::string& name : data.domain_names) meta.add_domain_names(name);
  return meta;
}

Status CheckLabels(const std::vector<float>& labels, size_t begin, size_t end, const char* what) {
  for (size_t s = begin; s < end; ++s) {
    if (labels[s] != 0.0f && labels[s] != 1.0f) {
      return InvalidArgumentError("sample " + std::to_string(s) + " has " + what + " label " +
                                  std::to_string(labels[s]) + "; shards hold 0/1 labels");
    }
  }
  return Status::Ok();
}

Status WriteWhole(const std::string& path, const std::string& file) {
  const std::string tmp = path + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (out == nullptr) return IoError(tmp + ": cannot create: " + std::strerror(errno));
  const bool written = std::fwrite(file.data(), 1, file.size(), out) == file.size();
  const bool closed = std::fclose(out) == 0;
  if (!written || !closed) {
    std::remove(tmp.c_str());
    return IoError(tmp + ": write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The version-1 layout: the Dataset's arrays as they are in memory.
Status WriteShardFileV1(const Dataset& data, size_t begin, size_t end, proto::ShardMeta meta,
                        const std::string& path, uint64_t* checksum) {
  const std::string meta_bytes = MetaFor(data, std::move(meta)).SerializeAsString();
  const uint64_t n = end - begin;
  const uint64_t f = data.fields.size();
  const uint64_t key_begin = data.offsets[begin * f];
  const uint64_t key_end = data.offsets[end * f];
  const uint64_t k = key_end - key_begin;
  const bool conversion = data.has_conversion();
  Layout l;
  CHECK(ComputeLayout(n, f, k, static_cast<uint32_t>(meta_bytes.size()), conversion, &l));

  std::string file(l.total, '\0');
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = 1;
  h.num_fields = static_cast<uint32_t>(f);
  h.num_samples = n;
  h.num_keys = k;
  h.meta_bytes = static_cast<uint32_t>(meta_bytes.size());
  h.flags = conversion ? kFlagConversion : 0;
  h.header_checksum = Checksum64(&h, offsetof(Header, header_checksum));
  std::memcpy(&file[0], &h, sizeof(h));
  std::memcpy(&file[l.meta], meta_bytes.data(), meta_bytes.size());
  auto* offsets = reinterpret_cast<uint64_t*>(&file[l.offsets]);
  for (uint64_t i = 0; i <= n * f; ++i) offsets[i] = data.offsets[begin * f + i] - key_begin;
  std::memcpy(&file[l.keys], data.keys.data() + key_begin, k * 8);
  std::memcpy(&file[l.click], data.click.data() + begin, n * 4);
  if (conversion) std::memcpy(&file[l.conversion], data.conversion.data() + begin, n * 4);
  std::memcpy(&file[l.domain], data.domain.data() + begin, n * 4);
  std::memcpy(&file[l.timestamp], data.timestamp.data() + begin, n * 8);
  *checksum = Checksum64(&file[kHeaderBytes], l.footer - kHeaderBytes);
  std::memcpy(&file[l.footer], checksum, 8);
  std::memcpy(&file[l.footer + 8], kEndMagic, 8);
  return WriteWhole(path, file);
}

}  // namespace

Status WriteShardFile(const Dataset& data, size_t begin, size_t end, proto::ShardMeta meta,
                      const std::string& path, uint64_t* checksum,
                      const ShardFileOptions& options) {
  CHECK(IsLittleEndian()) << "shard files are little-endian";
  CHECK_LE(begin, end);
  CHECK_LE(end, data.size());
  if (options.version == 1) {
    return WriteShardFileV1(data, begin, end, std::move(meta), path, checksum);
  }
  CHECK_EQ(options.version, 2u) << "shard format version " << options.version;
  const proto::ShardMeta full = MetaFor(data, std::move(meta));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<ShardFileWriter> writer,
                       ShardFileWriter::Create(path, full, data.has_conversion(), options));
  IAK_RETURN_IF_ERROR(writer->Append(data, begin, end));
  IAK_ASSIGN_OR_RETURN(*checksum, writer->Finish());
  return Status::Ok();
}

StatusOr<std::unique_ptr<ShardFileWriter>> ShardFileWriter::Create(const std::string& path,
                                                                  const proto::ShardMeta& meta,
                                                                  bool has_conversion,
                                                                  const ShardFileOptions& options) {
  CHECK(IsLittleEndian()) << "shard files are little-endian";
  CHECK_GE(options.block_samples, 1u);
  std::unique_ptr<ShardFileWriter> w(new ShardFileWriter());
  w->path_ = path;
  w->tmp_ = path + ".tmp";
  w->options_ = options;
  w->has_conversion_ = has_conversion;
  w->num_fields_ = static_cast<uint32_t>(meta.fields_size());
  w->meta_bytes_ = meta.SerializeAsString();
  w->file_ = std::fopen(w->tmp_.c_str(), "wb");
  if (w->file_ == nullptr) return IoError(w->tmp_ + ": cannot create: " + std::strerror(errno));
  // The header is written last, once the counts are known.
  const std::string zeros(kHeaderBytes, '\0');
  IAK_RETURN_IF_ERROR(w->WriteBytes(zeros.data(), zeros.size()));
  std::string meta_padded = w->meta_bytes_;
  meta_padded.resize((meta_padded.size() + 7) / 8 * 8, '\0');
  IAK_RETURN_IF_ERROR(w->WriteBytes(meta_padded.data(), meta_padded.size()));
  return w;
}

ShardFileWriter::~ShardFileWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

Status ShardFileWriter::WriteBytes(const void* p, size_t n) {
  if (std::fwrite(p, 1, n, file_) != n) return IoError(tmp_ + ": write failed (disk full?)");
  at_ += n;
  return Status::Ok();
}

Status ShardFileWriter::Append(const Dataset& data, size_t begin, size_t end) {
  CHECK(file_ != nullptr) << "ShardFileWriter::Append after Finish";
  CHECK_EQ(data.fields.size(), num_fields_);
  CHECK_LE(end, data.size());
  if (data.has_conversion() != has_conversion_ && end > begin) {
    return InvalidArgumentError(path_ + ": samples with" +
                                (data.has_conversion() ? "" : "out") +
                                " conversion labels appended to a shard that has" +
                                (has_conversion_ ? "" : " none"));
  }
  IAK_RETURN_IF_ERROR(CheckLabels(data.click, begin, end, "click"));
  if (has_conversion_) IAK_RETURN_IF_ERROR(CheckLabels(data.conversion, begin, end, "conversion"));
  for (size_t b = begin; b < end; b += options_.block_samples) {
    const size_t e = std::min(end, b + options_.block_samples);
    coded_.clear();
    EncodeShardBlock(data, b, e, &coded_);
    const std::string* out = &coded_;
    uint32_t flags = 0;
    if (options_.zstd_level > 0) {
      stored_.resize(ZSTD_compressBound(coded_.size()));
      const size_t z = ZSTD_compress(stored_.data(), stored_.size(), coded_.data(), coded_.size(),
                                     options_.zstd_level);
      CHECK(!ZSTD_isError(z)) << ZSTD_getErrorName(z);
      if (z < coded_.size()) {
        stored_.resize(z);
        out = &stored_;
        flags = kBlockZstd;
      }
    }
    CHECK_LT(out->size(), uint64_t{1} << 32) << "a shard block over 4 GiB: lower block_samples";
    PutU64(at_, &index_);
    const uint32_t sizes[4] = {static_cast<uint32_t>(out->size()),
                               static_cast<uint32_t>(coded_.size()),
                               static_cast<uint32_t>(e - b), flags};
    index_.append(reinterpret_cast<const char*>(sizes), sizeof(sizes));
    PutU64(Checksum64(out->data(), out->size()), &index_);
    IAK_RETURN_IF_ERROR(WriteBytes(out->data(), out->size()));
    num_samples_ += e - b;
    num_keys_ += data.offsets[e * num_fields_] - data.offsets[b * num_fields_];
  }
  return Status::Ok();
}

StatusOr<uint64_t> ShardFileWriter::Finish() {
  CHECK(file_ != nullptr) << "ShardFileWriter::Finish twice";
  IAK_RETURN_IF_ERROR(WriteBytes(index_.data(), index_.size()));
  const uint64_t checksum = Checksum64(index_.data(), index_.size(),
                                       Checksum64(meta_bytes_.data(), meta_bytes_.size()));
  IAK_RETURN_IF_ERROR(WriteBytes(&checksum, 8));
  IAK_RETURN_IF_ERROR(WriteBytes(kEndMagic, 8));
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = 2;
  h.num_fields = num_fields_;
  h.num_samples = num_samples_;
  h.num_keys = num_keys_;
  h.meta_bytes = static_cast<uint32_t>(meta_bytes_.size());
  h.flags = has_conversion_ ? kFlagConversion : 0;
  h.num_blocks = index_.size() / kIndexEntryBytes;
  h.file_bytes = at_;
  h.header_checksum = Checksum64(&h, offsetof(Header, header_checksum));
  const bool written = std::fseek(file_, 0, SEEK_SET) == 0 &&
                       std::fwrite(&h, 1, sizeof(h), file_) == sizeof(h);
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!written || !closed) {
    std::remove(tmp_.c_str());
    return IoError(tmp_ + ": write failed (disk full?)");
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return IoError("cannot rename " + tmp_ + " to " + path_ + ": " + std::strerror(errno));
  }
  return checksum;
}

StatusOr<std::unique_ptr<MappedShard>> MappedShard::Open(const std::string& path, bool verify) {
  CHECK(IsLittleEndian()) << "shard files are little-endian";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError(path + ": no such shard file");
    return IoError(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return IoError(path + ": cannot stat: " + std::strerror(err));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < kHeaderBytes + kFooterBytes) {
    ::close(fd);
    return DataLossError("truncated shard: " + std::to_string(size) + " bytes, less than a "
                         "header and footer" + Rerun(path));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return IoError(path + ": mmap failed: " + std::strerror(map_err));
  std::unique_ptr<MappedShard> shard(new MappedShard());
  shard->path_ = path;
  shard->map_ = map;
  shard->map_size_ = size;

  Header h;
  std::memcpy(&h, map, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) {
    return InvalidArgumentError(path + ": not an IAK shard (the file does not start with "
                                "\"IAKSHRD1\"); pass a file written by `iak data convert`");
  }
  if (h.header_checksum != Checksum64(&h, offsetof(Header, header_checksum))) {
    return DataLossError("corrupted shard: the header checksum does not match" + Rerun(path));
  }
  if (h.version != 1 && h.version != 2) {
    return InvalidArgumentError(path + ": shard format version " + std::to_string(h.version) +
                                "; this build reads versions 1 and 2: rewrite the shard set "
                                "with this build's `iak data convert`");
  }
  if (h.num_fields == 0) {
    return DataLossError("corrupted shard: the header says 0 feature fields" + Rerun(path));
  }
  shard->version_ = h.version;
  shard->num_samples_ = h.num_samples;
  shard->num_fields_ = h.num_fields;
  shard->num_keys_ = h.num_keys;
  shard->meta_bytes_ = h.meta_bytes;
  shard->has_conversion_ = (h.flags & kFlagConversion) != 0;
  IAK_RETURN_IF_ERROR(h.version == 1 ? shard->OpenV1(verify)
                                     : shard->OpenV2(verify, h.num_blocks, h.file_bytes));
  return shard;
}

Status MappedShard::OpenV1(bool verify) {
  const auto* base = static_cast<const char*>(map_);
  const size_t size = map_size_;
  const std::string& path = path_;
  Layout l;
  if (!ComputeLayout(num_samples_, num_fields_, num_keys_, meta_bytes_, has_conversion_, &l)) {
    return DataLossError("corrupted shard: the header's counts (" +
                         std::to_string(num_samples_) + " samples, " +
                         std::to_string(num_fields_) + " fields, " + std::to_string(num_keys_) +
                         " keys) describe no possible file" + Rerun(path));
  }
  if (size < l.total) {
    return DataLossError("truncated shard: " + std::to_string(size) + " bytes, the header says " +
                         std::to_string(l.total) + Rerun(path));
  }
  if (size > l.total) {
    return DataLossError("corrupted shard: " + std::to_string(size - l.total) +
                         " bytes past the end the header gives" + Rerun(path));
  }
  if (std::memcmp(base + l.footer + 8, kEndMagic, 8) != 0) {
    return DataLossError("corrupted shard: bad footer" + Rerun(path));
  }
  std::memcpy(&checksum_, base + l.footer, 8);
  if (verify && Checksum64(base + kHeaderBytes, l.footer - kHeaderBytes) != checksum_) {
    return DataLossError("corrupted shard: the data checksum does not match" + Rerun(path));
  }
  if (!meta_.ParseFromArray(base + l.meta, static_cast<int>(meta_bytes_)) ||
      meta_.fields_size() != static_cast<int>(num_fields_)) {
    return DataLossError("corrupted shard: unreadable metadata" + Rerun(path));
  }
  offsets_ = reinterpret_cast<const uint64_t*>(base + l.offsets);
  keys_ = reinterpret_cast<const uint64_t*>(base + l.keys);
  click_ = reinterpret_cast<const float*>(base + l.click);
  if (has_conversion_) conversion_ = reinterpret_cast<const float*>(base + l.conversion);
  domain_ = reinterpret_cast<const int32_t*>(base + l.domain);
  timestamp_ = reinterpret_cast<const int64_t*>(base + l.timestamp);
  // Always, not only with `verify`: readers index the keys by these offsets
  // and the domain names by these ids, so an unverified (streamed) shard
  // must hold them too. It is one pass over the arrays; the checksum is the
  // part `verify` adds.
  IAK_RETURN_IF_ERROR(CheckV1Structure());
  if (num_samples_ > std::numeric_limits<uint32_t>::max()) {
    return DataLossError("corrupted shard: " + std::to_string(num_samples_) +
                         " samples in one version-1 shard, more than it can hold" + Rerun(path));
  }
  Block whole;
  whole.samples = static_cast<uint32_t>(num_samples_);
  blocks_.push_back(whole);
  return Status::Ok();
}

Status MappedShard::CheckV1Structure() const {
  const size_t entries = num_samples_ * num_fields_;
  if (offsets_[0] != 0 || offsets_[entries] != num_keys_) {
    return DataLossError("corrupted shard: the key offsets run from " +
                         std::to_string(offsets_[0]) + " to " + std::to_string(offsets_[entries]) +
                         ", the header says 0 to " + std::to_string(num_keys_) + Rerun(path_));
  }
  for (size_t i = 0; i < entries; ++i) {
    // Increasing from 0 to num_keys_ keeps every offset within the keys.
    if (offsets_[i] > offsets_[i + 1]) {
      return DataLossError("corrupted shard: sample " + std::to_string(i / num_fields_) +
                           ", field " + std::to_string(i % num_fields_) +
                           ": its keys end at offset " + std::to_string(offsets_[i + 1]) +
                           ", before they start (" + std::to_string(offsets_[i]) + ")" +
                           Rerun(path_));
    }
  }
  const int32_t domains = meta_.domain_names_size();
  for (size_t s = 0; s < num_samples_; ++s) {
    if (domain_[s] < 0 || domain_[s] >= domains) {
      return DataLossError("corrupted shard: sample " + std::to_string(s) + " has domain id " +
                           std::to_string(domain_[s]) + ", the shard names " +
                           std::to_string(domains) + " domains" + Rerun(path_));
    }
    const bool labels = (click_[s] == 0.0f || click_[s] == 1.0f) &&
                        (conversion_ == nullptr || conversion_[s] == 0.0f ||
                         conversion_[s] == 1.0f);
    if (!labels) {
      return DataLossError("corrupted shard: sample " + std::to_string(s) +
                           " has a label other than 0 or 1" + Rerun(path_));
    }
  }
  return Status::Ok();
}

Status MappedShard::OpenV2(bool verify, uint64_t num_blocks, uint64_t file_bytes) {
  const auto* base = static_cast<const char*>(map_);
  const size_t size = map_size_;
  const std::string& path = path_;
  const uint64_t meta_end = kHeaderBytes + (uint64_t{meta_bytes_} + 7) / 8 * 8;
  // The smallest file the header allows: every block at least one byte.
  const CheckedSize least = CheckedSize(num_blocks).Mul(kIndexEntryBytes + 1).Add(meta_end).Add(
      kFooterBytes);
  if (!least.ok() || file_bytes < least.value() || num_blocks > num_samples_ ||
      (num_samples_ > 0 && num_blocks == 0)) {
    return DataLossError("corrupted shard: the header's counts (" + std::to_string(num_samples_) +
                         " samples in " + std::to_string(num_blocks) +
                         " blocks) describe no possible file" + Rerun(path));
  }
  if (size < file_bytes) {
    return DataLossError("truncated shard: " + std::to_string(size) + " bytes, the header says " +
                         std::to_string(file_bytes) + Rerun(path));
  }
  if (size > file_bytes) {
    return DataLossError("corrupted shard: " + std::to_string(size - file_bytes) +
                         " bytes past the end the header gives" + Rerun(path));
  }
  const size_t footer = size - kFooterBytes;
  const size_t index_at = footer - num_blocks * kIndexEntryBytes;
  if (std::memcmp(base + footer + 8, kEndMagic, 8) != 0) {
    return DataLossError("corrupted shard: bad footer" + Rerun(path));
  }
  std::memcpy(&checksum_, base + footer, 8);
  if (Checksum64(base + index_at, num_blocks * kIndexEntryBytes,
                 Checksum64(base + kHeaderBytes, meta_bytes_)) != checksum_) {
    return DataLossError("corrupted shard: the index checksum does not match" + Rerun(path));
  }
  if (!meta_.ParseFromArray(base + kHeaderBytes, static_cast<int>(meta_bytes_)) ||
      meta_.fields_size() != static_cast<int>(num_fields_)) {
    return DataLossError("corrupted shard: unreadable metadata" + Rerun(path));
  }
  uint64_t at = meta_end, first = 0;
  blocks_.resize(num_blocks);
  for (uint64_t b = 0; b < num_blocks; ++b) {
    Block& block = blocks_[b];
    const char* entry = base + index_at + b * kIndexEntryBytes;
    uint32_t sizes[4];
    std::memcpy(&block.offset, entry, 8);
    std::memcpy(sizes, entry + 8, 16);
    std::memcpy(&block.checksum, entry + 24, 8);
    block.stored = sizes[0];
    block.coded = sizes[1];
    block.samples = sizes[2];
    block.flags = sizes[3];
    block.first_sample = first;
    if (block.offset != at || block.stored > index_at - at || block.samples == 0 ||
        block.flags > kBlockZstd) {
      return DataLossError("corrupted shard: block " + std::to_string(b) +
                           " is not where the index says" + Rerun(path));
    }
    at += block.stored;
    first += block.samples;
  }
  if (at != index_at || first != num_samples_) {
    return DataLossError("corrupted shard: the blocks do not add up to the header's " +
                         std::to_string(num_samples_) + " samples" + Rerun(path));
  }
  if (verify) {
    for (uint64_t b = 0; b < num_blocks; ++b) {
      if (Checksum64(base + blocks_[b].offset, blocks_[b].stored) != blocks_[b].checksum) {
        return DataLossError("corrupted shard: the checksum of block " + std::to_string(b) +
                             " does not match" + Rerun(path));
      }
    }
  }
  return Status::Ok();
}

MappedShard::~MappedShard() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

void MappedShard::AppendV1(Dataset* out) const {
  const uint64_t base = out->keys.size();
  out->keys.insert(out->keys.end(), keys_, keys_ + num_keys_);
  const size_t entries = num_samples_ * num_fields_;
  const size_t old = out->offsets.size();
  out->offsets.resize(old + entries);
  for (size_t i = 0; i < entries; ++i) out->offsets[old + i] = base + offsets_[i + 1];
  out->click.insert(out->click.end(), click_, click_ + num_samples_);
  if (conversion_ != nullptr) {
    out->conversion.insert(out->conversion.end(), conversion_, conversion_ + num_samples_);
  }
  out->domain.insert(out->domain.end(), domain_, domain_ + num_samples_);
  out->timestamp.insert(out->timestamp.end(), timestamp_, timestamp_ + num_samples_);
}

Status MappedShard::Decompress(size_t block, const char* stored, std::string* coded) const {
  const Block& b = blocks_[block];
  // The coded size comes from the file: before a buffer of that size is
  // made, it must be what the zstd frame says it holds (one frame, the
  // whole stored block) and no more than the block's samples can code to.
  const unsigned long long frame = ZSTD_getFrameContentSize(stored, b.stored);
  if (frame == ZSTD_CONTENTSIZE_ERROR || frame == ZSTD_CONTENTSIZE_UNKNOWN ||
      ZSTD_findFrameCompressedSize(stored, b.stored) != b.stored) {
    return DataLossError("not one zstd frame with its size");
  }
  if (frame != b.coded) {
    return DataLossError("the zstd frame holds " + std::to_string(frame) +
                         " bytes, the index says " + std::to_string(b.coded));
  }
  const uint64_t most = MaxShardBlockBytes(b.samples, num_fields_, num_keys_);
  if (b.coded > most) {
    return DataLossError(std::to_string(b.coded) + " coded bytes, more than " +
                         std::to_string(b.samples) + " samples of " + std::to_string(num_fields_) +
                         " fields and at most " + std::to_string(num_keys_) +
                         " keys can take (" + std::to_string(most) + ")");
  }
  coded->resize(b.coded);
  const size_t n = ZSTD_decompress(coded->data(), coded->size(), stored, b.stored);
  if (ZSTD_isError(n)) return DataLossError(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != b.coded) return DataLossError("zstd: short block");
  return Status::Ok();
}

Status MappedShard::DecodeBlock(size_t block, Dataset* out) const {
  CHECK_EQ(out->fields.size(), num_fields_);
  CHECK_LT(block, blocks_.size());
  if (version_ == 1) {
    AppendV1(out);
    return Status::Ok();
  }
  const Block& b = blocks_[block];
  const char* stored = static_cast<const char*>(map_) + b.offset;
  const std::string where = "corrupted shard: block " + std::to_string(block) + ": ";
  if (Checksum64(stored, b.stored) != b.checksum) {
    return DataLossError(where + "the checksum does not match" + Rerun(path_));
  }
  Status decoded;
  if (b.flags & kBlockZstd) {
    std::string coded;
    decoded = Decompress(block, stored, &coded);
    if (decoded.ok()) {
      decoded = DecodeShardBlock(coded.data(), coded.size(), b.samples, has_conversion_, out);
    }
  } else {
    decoded = DecodeShardBlock(stored, b.stored, b.samples, has_conversion_, out);
  }
  // Drop the block's whole pages from this process: a stream over a shard
  // far larger than memory keeps about one block resident.
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t from = (reinterpret_cast<uintptr_t>(stored) + page - 1) / page * page;
  const uintptr_t to = (reinterpret_cast<uintptr_t>(stored) + b.stored) / page * page;
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
  if (!decoded.ok()) return DataLossError(where + decoded.message() + Rerun(path_));
  return Status::Ok();
}

Status MappedShard::AppendTo(Dataset* out) const {
  CHECK_EQ(out->fields.size(), num_fields_);
  if (out->domain_names.empty()) {
    out->domain_names.assign(meta_.domain_names().begin(), meta_.domain_names().end());
  }
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const size_t before = out->size();
    Status decoded = DecodeBlock(b, out);
    if (!decoded.ok()) {
      out->keys.resize(out->offsets[before * num_fields_]);
      out->offsets.resize(before * num_fields_ + 1);
      out->click.resize(before);
      if (has_conversion_ || !out->conversion.empty()) out->conversion.resize(before);
      out->domain.resize(before);
      out->timestamp.resize(before);
      return decoded;
    }
  }
  return Status::Ok();
}

}  // namespace iak::data
