#include "worker/frozen_prefix_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace iak::worker {

StatusOr<std::unique_ptr<FrozenPrefixCache>> FrozenPrefixCache::Create(
    const FrozenPrefixCacheOptions& options) {
  if (options.width <= 0) {
    return InvalidArgumentError("frozen-prefix cache: width must be positive, got " +
                                std::to_string(options.width));
  }
  if (options.num_samples >= kDiskBit) {
    return InvalidArgumentError("frozen-prefix cache: at most 2^31 samples per worker");
  }
  // The spill file is created when the first row goes past the budget.
  return std::unique_ptr<FrozenPrefixCache>(new FrozenPrefixCache(options));
}

FrozenPrefixCache::FrozenPrefixCache(const FrozenPrefixCacheOptions& options)
    : options_(options) {
  max_memory_rows_ = options.memory_budget_bytes / (sizeof(float) * options.width);
  // Reserved once, so that storing never reallocates (nor doubles past the
  // budget); pages are only touched as rows arrive.
  memory_.reserve(std::min(max_memory_rows_, options.num_samples) * options.width);
}

uint32_t FrozenPrefixCache::Where(uint32_t id) const {
  const auto found = location_.find(id);
  return found == location_.end() ? kNone : found->second;
}

FrozenPrefixCache::~FrozenPrefixCache() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(options_.spill_path.c_str());
  }
}

bool FrozenPrefixCache::ContainsAll(const uint32_t* ids, int n) const {
  if (n <= 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) {
    if (Where(ids[i]) == kNone) return false;
  }
  return true;
}

Status FrozenPrefixCache::Put(const uint32_t* ids, int n, const float* h) {
  const size_t width = options_.width;
  const size_t row_bytes = sizeof(float) * width;
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) {
    const uint32_t id = ids[i];
    if (id >= options_.num_samples) {
      return InvalidArgumentError("frozen-prefix cache: sample id " + std::to_string(id) +
                                  " out of range (" + std::to_string(options_.num_samples) +
                                  " samples)");
    }
    if (Where(id) != kNone) continue;
    const float* row = h + i * width;
    if (memory_rows_ < max_memory_rows_) {
      memory_.resize((static_cast<size_t>(memory_rows_) + 1) * width);
      std::memcpy(memory_.data() + static_cast<size_t>(memory_rows_) * width, row, row_bytes);
      location_[id] = memory_rows_++;
    } else if (!options_.spill_path.empty()) {
      if (fd_ < 0) {
        fd_ = ::open(options_.spill_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd_ < 0) {
          return IoError("frozen-prefix cache: cannot create the spill file " +
                         options_.spill_path + ": " + std::strerror(errno) +
                         "; set frozen_prefix_cache.spill_dir to a writable directory");
        }
      }
      const off_t offset = static_cast<off_t>(disk_rows_) * row_bytes;
      const ssize_t written = ::pwrite(fd_, row, row_bytes, offset);
      if (written != static_cast<ssize_t>(row_bytes)) {
        return IoError("frozen-prefix cache: writing " + options_.spill_path + " failed: " +
                       (written < 0 ? std::strerror(errno) : "short write") +
                       "; free disk space or lower the budget");
      }
      location_[id] = kDiskBit | disk_rows_++;
    } else {
      continue;
    }
    ++stores_;
  }
  return Status::Ok();
}

Status FrozenPrefixCache::Get(const uint32_t* ids, int n, float* h_out) const {
  const size_t width = options_.width;
  const size_t row_bytes = sizeof(float) * width;
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) {
    const uint32_t id = ids[i];
    const uint32_t where = Where(id);
    float* out = h_out + i * width;
    if (where == kNone) {
      return NotFoundError("frozen-prefix cache: sample " + std::to_string(id) + " is not cached");
    }
    if ((where & kDiskBit) == 0) {
      std::memcpy(out, memory_.data() + static_cast<size_t>(where) * width, row_bytes);
      continue;
    }
    const off_t offset = static_cast<off_t>(where & ~kDiskBit) * row_bytes;
    const ssize_t got = ::pread(fd_, out, row_bytes, offset);
    if (got != static_cast<ssize_t>(row_bytes)) {
      return IoError("frozen-prefix cache: reading " + options_.spill_path + " failed: " +
                     (got < 0 ? std::strerror(errno) : "short read"));
    }
  }
  hits_ += n;
  return Status::Ok();
}

FrozenPrefixCacheStats FrozenPrefixCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  FrozenPrefixCacheStats s;
  s.memory_rows = memory_rows_;
  s.disk_rows = disk_rows_;
  s.hits = hits_;
  s.stores = stores_;
  return s;
}

}  // namespace iak::worker
