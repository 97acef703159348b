#include "embedding/huge_page_buffer.h"

#include <glog/logging.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <cstring>
#include <utility>

namespace iak::embedding {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

HugePageBuffer::HugePageBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  const size_t rounded = (size + kHugePage - 1) / kHugePage * kHugePage;
  void* memory = nullptr;
  CHECK_EQ(posix_memalign(&memory, kHugePage, rounded), 0)
      << "out of memory allocating " << rounded << " bytes";
  // Advice before the first touch, so page faults map huge pages directly.
  madvise(memory, rounded, MADV_HUGEPAGE);
  data_ = static_cast<char*>(memory);
  std::memset(data_, 0, rounded);
}

HugePageBuffer::~HugePageBuffer() { free(data_); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace iak::embedding
