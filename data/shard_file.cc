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

#include "data/checksum.h"

namespace iak::data {
namespace {

constexpr char kMagic[8] = {'I', 'A', 'K', 'S', 'H', 'R', 'D', '1'};
constexpr char kEndMagic[8] = {'I', 'A', 'K', 'S', 'E', 'N', 'D', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kFlagConversion = 1;
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
  uint64_t reserved[2];
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

}  // namespace

Status WriteShardFile(const Dataset& data, size_t begin, size_t end, proto::ShardMeta meta,
                      const std::string& path, uint64_t* checksum) {
  CHECK(IsLittleEndian()) << "shard files are little-endian";
  CHECK_LE(begin, end);
  CHECK_LE(end, data.size());
  meta.clear_fields();
  for (const FieldInfo& field : data.fields) {
    proto::FieldSchema* f = meta.add_fields();
    f->set_name(field.name);
    f->set_multi_valued(field.multi_valued);
    f->set_pooling(field.pooling == Pooling::kMean ? "mean" : "sum");
  }
  meta.clear_domain_names();
  for (const std::string& name : data.domain_names) meta.add_domain_names(name);
  const std::string meta_bytes = meta.SerializeAsString();

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
  h.version = kVersion;
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
  const auto* base = static_cast<const char*>(map);

  Header h;
  std::memcpy(&h, base, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) {
    return InvalidArgumentError(path + ": not an IAK shard (the file does not start with "
                                "\"IAKSHRD1\"); pass a file written by `iak data convert`");
  }
  if (h.header_checksum != Checksum64(&h, offsetof(Header, header_checksum))) {
    return DataLossError("corrupted shard: the header checksum does not match" + Rerun(path));
  }
  if (h.version != kVersion) {
    return InvalidArgumentError(path + ": shard format version " + std::to_string(h.version) +
                                ", this build reads version " + std::to_string(kVersion));
  }
  if (h.num_fields == 0) {
    return DataLossError("corrupted shard: the header says 0 feature fields" + Rerun(path));
  }
  Layout l;
  if (!ComputeLayout(h.num_samples, h.num_fields, h.num_keys, h.meta_bytes,
                     (h.flags & kFlagConversion) != 0, &l)) {
    return DataLossError("corrupted shard: the header's counts (" +
                         std::to_string(h.num_samples) + " samples, " +
                         std::to_string(h.num_fields) + " fields, " + std::to_string(h.num_keys) +
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
  std::memcpy(&shard->checksum_, base + l.footer, 8);
  if (verify && Checksum64(base + kHeaderBytes, l.footer - kHeaderBytes) != shard->checksum_) {
    return DataLossError("corrupted shard: the data checksum does not match" + Rerun(path));
  }
  if (!shard->meta_.ParseFromArray(base + l.meta, static_cast<int>(h.meta_bytes)) ||
      shard->meta_.fields_size() != static_cast<int>(h.num_fields)) {
    return DataLossError("corrupted shard: unreadable metadata" + Rerun(path));
  }
  shard->num_samples_ = h.num_samples;
  shard->num_fields_ = h.num_fields;
  shard->num_keys_ = h.num_keys;
  shard->offsets_ = reinterpret_cast<const uint64_t*>(base + l.offsets);
  shard->keys_ = reinterpret_cast<const uint64_t*>(base + l.keys);
  shard->click_ = reinterpret_cast<const float*>(base + l.click);
  if (h.flags & kFlagConversion) {
    shard->conversion_ = reinterpret_cast<const float*>(base + l.conversion);
  }
  shard->domain_ = reinterpret_cast<const int32_t*>(base + l.domain);
  shard->timestamp_ = reinterpret_cast<const int64_t*>(base + l.timestamp);
  if (verify) {
    const size_t entries = shard->num_samples_ * shard->num_fields_;
    const uint64_t* off = shard->offsets_;
    bool ok = off[0] == 0 && off[entries] == shard->num_keys_;
    for (size_t i = 0; ok && i < entries; ++i) ok = off[i] <= off[i + 1];
    const int32_t domains = shard->meta_.domain_names_size();
    for (size_t s = 0; ok && s < shard->num_samples_; ++s) {
      const float c = shard->click_[s];
      ok = shard->domain_[s] >= 0 && shard->domain_[s] < domains && (c == 0.0f || c == 1.0f);
    }
    if (!ok) return DataLossError("corrupted shard: inconsistent offsets, domains or labels" +
                                  Rerun(path));
  }
  return shard;
}

MappedShard::~MappedShard() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

void MappedShard::AppendTo(Dataset* out) const {
  CHECK_EQ(out->fields.size(), num_fields_);
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

}  // namespace iak::data
