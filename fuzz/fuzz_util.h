// Helpers shared by the libFuzzer targets (docs/fuzzing.md).
#ifndef IAK_FUZZ_FUZZ_UTIL_H_
#define IAK_FUZZ_FUZZ_UTIL_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace iak::fuzz {

// A private directory for the process (decoders that read files get theirs
// there), made once.
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    std::string pattern = "/tmp/iak-fuzz-XXXXXX";
    char* made = mkdtemp(pattern.data());
    if (made == nullptr) std::abort();
    return new std::string(made);
  }();
  return *dir;
}

// Writes `bytes` to <ScratchDir()>/<name> and returns the path.
inline std::string WriteScratch(const std::string& name, std::string_view bytes) {
  const std::string path = ScratchDir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
  return path;
}

// The round trip of a file format. The fuzzer's bytes are written as
// <ScratchDir()>/<name> and handed to `read(path)` (a StatusOr); input that
// does not read is fine (a clear error is the point). What reads must
// `write(value, other_path)` (a Status) and read back, and `same(first,
// again)` must hold; anything else aborts (a finding).
template <typename Read, typename Write, typename Same>
void CheckFileRoundTrip(const std::string& name, const uint8_t* data, size_t size, Read read,
                        Write write, Same same) {
  const std::string path =
      WriteScratch(name, std::string_view(reinterpret_cast<const char*>(data), size));
  auto first = read(path);
  if (!first.ok()) return;
  const std::string again_path = ScratchDir() + "/again-" + name;
  if (!write(*first, again_path).ok()) std::abort();
  auto again = read(again_path);
  if (!again.ok() || !same(*first, *again)) std::abort();
}

// Multi-frame messages from one input: a byte with the frame count (1..4),
// then per frame but the last a 2-byte little-endian length and its bytes;
// the last frame takes the rest. make_seeds writes seeds in this form.
inline std::vector<std::string> SplitFrames(const uint8_t* data, size_t size) {
  std::vector<std::string> frames;
  if (size == 0) return frames;
  const int count = 1 + data[0] % 4;
  size_t at = 1;
  for (int f = 0; f + 1 < count; ++f) {
    if (at + 2 > size) break;
    size_t len = data[at] | (size_t{data[at + 1]} << 8);
    at += 2;
    if (len > size - at) len = size - at;
    frames.emplace_back(reinterpret_cast<const char*>(data) + at, len);
    at += len;
  }
  frames.emplace_back(reinterpret_cast<const char*>(data) + at, size - at);
  return frames;
}

inline std::string JoinFrames(const std::vector<std::string>& frames) {
  std::string out(1, static_cast<char>(frames.empty() ? 0 : frames.size() - 1));
  for (size_t f = 0; f < frames.size(); ++f) {
    if (f + 1 < frames.size()) {
      out.push_back(static_cast<char>(frames[f].size() & 0xff));
      out.push_back(static_cast<char>(frames[f].size() >> 8));
    }
    out += frames[f];
  }
  return out;
}

}  // namespace iak::fuzz

#endif  // IAK_FUZZ_FUZZ_UTIL_H_
