#include "net/frame.h"

#include <utility>

namespace iak::net {
namespace {

void DeleteArray(char* data, void* /*hint*/) { delete[] data; }

}  // namespace

Frame Frame::Uninitialized(size_t size) {
  // new char[n] leaves the bytes uninitialised (no value-initialisation).
  return Adopt(new char[size == 0 ? 1 : size], size, &DeleteArray, nullptr);
}

Frame Frame::Adopt(char* data, size_t size, Release release, void* hint) {
  Frame frame;
  frame.adopted_ = data;
  frame.adopted_size_ = size;
  frame.release_ = release;
  frame.hint_ = hint;
  return frame;
}

Frame& Frame::operator=(const Frame& other) {
  if (this != &other) {
    std::string copy(other.view());
    Reset();
    owned_ = std::move(copy);
  }
  return *this;
}

Frame::Frame(Frame&& other) noexcept
    : owned_(std::move(other.owned_)),
      adopted_(std::exchange(other.adopted_, nullptr)),
      adopted_size_(std::exchange(other.adopted_size_, 0)),
      release_(std::exchange(other.release_, nullptr)),
      hint_(std::exchange(other.hint_, nullptr)) {
  other.owned_.clear();
}

Frame& Frame::operator=(Frame&& other) noexcept {
  if (this != &other) {
    Reset();
    owned_ = std::move(other.owned_);
    other.owned_.clear();
    adopted_ = std::exchange(other.adopted_, nullptr);
    adopted_size_ = std::exchange(other.adopted_size_, 0);
    release_ = std::exchange(other.release_, nullptr);
    hint_ = std::exchange(other.hint_, nullptr);
  }
  return *this;
}

void Frame::Reset() {
  if (release_ != nullptr) release_(adopted_, hint_);
  adopted_ = nullptr;
  adopted_size_ = 0;
  release_ = nullptr;
  hint_ = nullptr;
  owned_.clear();
}

}  // namespace iak::net
