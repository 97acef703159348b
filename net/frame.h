// Frame: the bytes of one frame of a Message, owned by the frame. Either a
// std::string or a buffer handed over with the function that releases it: a
// received ZeroMQ message kept as it arrived, or a buffer of a given size left
// uninitialised for the caller to fill (a pull reply's rows). So large
// payloads move between the transport and its callers without a copy, and a
// buffer about to be overwritten is not zero-filled first.
//
// Frames are built implicitly from strings and read as std::string_view;
// copying one copies its bytes. Like a std::string, moving a frame may move
// its bytes (short strings live inside it): take data() after the last move.
//
// Thread-safety: a frame may be moved to and released on any thread.
#ifndef IAK_NET_FRAME_H_
#define IAK_NET_FRAME_H_

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

namespace iak::net {

class Frame {
 public:
  // Releases an adopted buffer: release(data, hint).
  using Release = void (*)(char* data, void* hint);

  Frame() = default;
  Frame(std::string bytes) : owned_(std::move(bytes)) {}  // NOLINT: implicit on purpose
  Frame(const char* text) : owned_(text) {}               // NOLINT: implicit on purpose
  Frame(const char* data, size_t size) : owned_(data, size) {}
  // `size` bytes, not initialised: the caller writes them through data().
  static Frame Uninitialized(size_t size);
  // Takes data[0..size), released by release(data, hint) when the frame is
  // destroyed.
  static Frame Adopt(char* data, size_t size, Release release, void* hint);

  Frame(const Frame& other) : owned_(other.view()) {}
  Frame& operator=(const Frame& other);
  Frame(Frame&& other) noexcept;
  Frame& operator=(Frame&& other) noexcept;
  ~Frame() { Reset(); }

  const char* data() const { return release_ != nullptr ? adopted_ : owned_.data(); }
  char* data() { return release_ != nullptr ? adopted_ : owned_.data(); }
  size_t size() const { return release_ != nullptr ? adopted_size_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  std::string_view view() const { return std::string_view(data(), size()); }
  operator std::string_view() const { return view(); }  // NOLINT: implicit on purpose
  std::string ToString() const { return std::string(view()); }

 private:
  void Reset();

  std::string owned_;          // the bytes, unless adopted
  char* adopted_ = nullptr;    // the adopted buffer, when release_ is set
  size_t adopted_size_ = 0;
  Release release_ = nullptr;  // set = adopted
  void* hint_ = nullptr;
};

inline bool operator==(const Frame& a, const Frame& b) { return a.view() == b.view(); }
inline bool operator!=(const Frame& a, const Frame& b) { return !(a == b); }
inline bool operator==(const Frame& a, std::string_view b) { return a.view() == b; }
inline bool operator==(std::string_view a, const Frame& b) { return a == b.view(); }
inline bool operator==(const Frame& a, const std::string& b) { return a.view() == b; }
inline bool operator==(const std::string& a, const Frame& b) { return a == b.view(); }
inline bool operator==(const Frame& a, const char* b) { return a.view() == b; }
inline std::ostream& operator<<(std::ostream& out, const Frame& frame) {
  return out << "frame of " << frame.size() << " bytes";
}

}  // namespace iak::net

#endif  // IAK_NET_FRAME_H_
