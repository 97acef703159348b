// HugePageBuffer: a fixed-size, zero-filled byte buffer for the large
// read-only arrays of a shard (index slots, rows), aligned to 2 MiB and
// advised to use transparent huge pages before it is first touched. Random
// lookups over a few hundred MB otherwise pay a TLB miss (a page walk) on top
// of the cache miss for nearly every key; with 2 MiB pages they mostly don't.
// Where THP is unavailable the advice is ignored and the buffer still works.
//
// Thread-safety: like a std::vector; immutable use from many threads is safe.
#ifndef IAK_EMBEDDING_HUGE_PAGE_BUFFER_H_
#define IAK_EMBEDDING_HUGE_PAGE_BUFFER_H_

#include <cstddef>

namespace iak::embedding {

class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  // Allocates `size` zero bytes; CHECK-fails only when memory is exhausted.
  explicit HugePageBuffer(size_t size);
  ~HugePageBuffer();

  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_HUGE_PAGE_BUFFER_H_
