// DeviceBuffer<T> and PinnedBuffer<T>: owning RAII arrays in GPU memory and
// in page-locked host memory (the staging area async copies need).
//
// Both are allocated by Reserve() and only ever grow, so a step that reuses
// them allocates nothing in steady state. Internal to cuda/.
//
// Thread-safety: none; owned by one step or communicator.
#ifndef IAK_CUDA_DEVICE_BUFFER_H_
#define IAK_CUDA_DEVICE_BUFFER_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda/cuda_status.h"

namespace iak::cuda {

// Where a buffer's memory comes from.
struct DeviceMemory {
  static cudaError_t Allocate(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
  static void Free(void* p) { cudaFree(p); }
};
struct PinnedMemory {
  static cudaError_t Allocate(void** p, size_t bytes) { return cudaMallocHost(p, bytes); }
  static void Free(void* p) { cudaFreeHost(p); }
};

template <typename T, typename Memory>
class CudaBuffer {
 public:
  CudaBuffer() = default;
  ~CudaBuffer() {
    if (data_ != nullptr) Memory::Free(data_);
  }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  CudaBuffer(CudaBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

  // Makes room for at least n elements; growth drops the old contents, so
  // callers reserve before they fill. The caller must have synchronised any
  // copy still reading the old buffer.
  [[nodiscard]] Status Reserve(size_t n) {
    if (n <= size_) return Status::Ok();
    if (data_ != nullptr) Memory::Free(data_);
    data_ = nullptr;
    size_ = 0;
    IAK_CUDA_RETURN_IF_ERROR(Memory::Allocate(reinterpret_cast<void**>(&data_), n * sizeof(T)));
    size_ = n;
    return Status::Ok();
  }
  T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
using DeviceBuffer = CudaBuffer<T, DeviceMemory>;
template <typename T>
using PinnedBuffer = CudaBuffer<T, PinnedMemory>;

}  // namespace iak::cuda

#endif  // IAK_CUDA_DEVICE_BUFFER_H_
