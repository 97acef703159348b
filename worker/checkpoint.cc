#include "worker/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "proto/checkpoint.pb.h"

namespace iak::worker {

namespace {

constexpr char kMagic[8] = {'I', 'A', 'K', 'C', 'K', 'P', 'T', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kPrefixBytes = sizeof(kMagic) + sizeof(uint64_t);
constexpr size_t kTrailerBytes = sizeof(uint32_t);
constexpr char kSuffix[] = ".iakckpt";

// The machines we build for are little-endian; the format says so too.
void AppendU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void AppendU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t ReadU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint32_t ReadU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string OsError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Closes a descriptor on every path out of a function.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(OsError("cannot write", path) + " (is the disk full?)");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Corrupt(const std::string& path, const std::string& why) {
  return path + ": " + why +
         "; the checkpoint is refused (an older checkpoint is used when there is one)";
}

}  // namespace

uint32_t Crc32c(const void* data, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

Status WriteCheckpointFile(const std::string& path, const Checkpoint& checkpoint) {
  proto::CheckpointHeader header;
  header.set_format_version(kFormatVersion);
  header.set_job_name(checkpoint.job_name);
  header.set_membership_epoch(checkpoint.membership_epoch);
  header.set_phase_index(checkpoint.phase_index);
  header.set_step(checkpoint.step);
  header.set_written_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  std::string body;
  for (const DomainCheckpoint& d : checkpoint.domains) {
    proto::CheckpointDomain* meta = header.add_domains();
    meta->set_domain(d.domain);
    meta->set_num_params(d.params.size());
    meta->set_adam_bytes(d.adam_state.size());
    meta->set_cursor_epoch(d.cursor.epoch);
    meta->set_cursor_position(d.cursor.position);
    *meta->mutable_validation() = d.validation;
    meta->set_steps(d.steps);
    meta->set_samples(d.samples);
    body.append(reinterpret_cast<const char*>(d.params.data()), d.params.size() * sizeof(float));
    body.append(d.adam_state);
  }
  header.set_body_bytes(body.size());
  const std::string header_bytes = header.SerializeAsString();

  std::string file(kMagic, sizeof(kMagic));
  AppendU64(&file, header_bytes.size());
  file += header_bytes;
  file += body;
  AppendU32(&file, Crc32c(file.data(), file.size()));

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IoError(OsError("cannot create", tmp));
    FdCloser closer{fd};
    Status written = WriteAll(fd, file, tmp);
    if (written.ok() && ::fsync(fd) != 0) written = IoError(OsError("cannot fsync", tmp));
    if (!written.ok()) {
      ::unlink(tmp.c_str());
      return written;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status failed = IoError(OsError("cannot rename " + tmp + " to", path));
    ::unlink(tmp.c_str());
    return failed;
  }
  // The rename itself is durable only once the directory is synced.
  const std::string dir = DirOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return IoError(OsError("cannot open directory", dir));
  FdCloser dir_closer{dir_fd};
  if (::fsync(dir_fd) != 0) return IoError(OsError("cannot fsync directory", dir));
  return Status::Ok();
}

StatusOr<Checkpoint> ReadCheckpointFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
      return NotFoundError("checkpoint " + path + " does not exist");
    }
    return IoError(OsError("cannot open checkpoint", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return IoError(OsError("cannot read checkpoint", path));
  const std::string file = buffer.str();

  if (file.size() < sizeof(kMagic) || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    if (file.size() < sizeof(kMagic)) {
      return DataLossError(Corrupt(path, "truncated: " + std::to_string(file.size()) +
                                             " bytes, shorter than the file header"));
    }
    return DataLossError(Corrupt(path, "not an IAK-PS checkpoint (bad magic number)"));
  }
  if (file.size() < kPrefixBytes + kTrailerBytes) {
    return DataLossError(Corrupt(path, "truncated: " + std::to_string(file.size()) +
                                           " bytes, shorter than the file header"));
  }
  const uint64_t header_len = ReadU64(file.data() + sizeof(kMagic));
  // Also bounds the int that ParseFromArray takes (a header over 2 GiB is no
  // checkpoint of ours).
  if (header_len > file.size() - kPrefixBytes - kTrailerBytes ||
      header_len > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    return DataLossError(Corrupt(path, "truncated: " + std::to_string(file.size()) +
                                           " bytes, too short for its " +
                                           std::to_string(header_len) + "-byte header"));
  }
  proto::CheckpointHeader header;
  if (!header.ParseFromArray(file.data() + kPrefixBytes, static_cast<int>(header_len))) {
    return DataLossError(Corrupt(path, "corrupt header"));
  }
  // The body's size is compared with the room the file has, never added to
  // other sizes: a huge claimed size must not wrap around to the file's.
  const uint64_t body_room = file.size() - kPrefixBytes - kTrailerBytes - header_len;
  if (header.body_bytes() > body_room) {
    return DataLossError(Corrupt(path, "truncated: " + std::to_string(file.size()) +
                                           " bytes, room for " + std::to_string(body_room) +
                                           " of the " + std::to_string(header.body_bytes()) +
                                           " body bytes its header claims"));
  }
  if (header.body_bytes() < body_room) {
    return DataLossError(Corrupt(path, std::to_string(body_room - header.body_bytes()) +
                                           " unexpected bytes after the end"));
  }
  const uint32_t stored_crc = ReadU32(file.data() + file.size() - kTrailerBytes);
  const uint32_t actual_crc = Crc32c(file.data(), file.size() - kTrailerBytes);
  if (stored_crc != actual_crc) {
    return DataLossError(Corrupt(path, "checksum mismatch (CRC-32C stored " +
                                           std::to_string(stored_crc) + ", computed " +
                                           std::to_string(actual_crc) + "): the file is corrupt"));
  }
  if (header.format_version() != kFormatVersion) {
    return InvalidArgumentError(path + ": checkpoint format version " +
                                std::to_string(header.format_version()) +
                                ", this build reads version " + std::to_string(kFormatVersion));
  }
  Checkpoint checkpoint;
  checkpoint.job_name = header.job_name();
  checkpoint.membership_epoch = header.membership_epoch();
  checkpoint.phase_index = header.phase_index();
  checkpoint.step = header.step();
  const char* body = file.data() + kPrefixBytes + header_len;
  uint64_t offset = 0;
  for (const proto::CheckpointDomain& meta : header.domains()) {
    const uint64_t param_bytes = meta.num_params() * sizeof(float);
    // Each size against what is left, never their sum: the sum can wrap.
    if (meta.num_params() > (header.body_bytes() - offset) / sizeof(float) ||
        meta.adam_bytes() > header.body_bytes() - offset - param_bytes) {
      return DataLossError(Corrupt(path, "domain '" + meta.domain() +
                                             "' claims more bytes than the body holds"));
    }
    DomainCheckpoint d;
    d.domain = meta.domain();
    d.params.resize(meta.num_params());
    std::memcpy(d.params.data(), body + offset, param_bytes);
    offset += param_bytes;
    d.adam_state.assign(body + offset, meta.adam_bytes());
    offset += meta.adam_bytes();
    d.cursor.epoch = meta.cursor_epoch();
    d.cursor.position = meta.cursor_position();
    d.validation = meta.validation();
    d.steps = meta.steps();
    d.samples = meta.samples();
    checkpoint.domains.push_back(std::move(d));
  }
  if (offset != header.body_bytes()) {
    return DataLossError(Corrupt(path, "the domains account for " + std::to_string(offset) +
                                           " of " + std::to_string(header.body_bytes()) +
                                           " body bytes"));
  }
  return checkpoint;
}

CheckpointStore::CheckpointStore(CheckpointStoreOptions options) : options_(std::move(options)) {
  CHECK_GE(options_.keep_last, 1) << "CheckpointStoreOptions.keep_last must be at least 1";
}

std::string CheckpointStore::PathFor(int32_t phase_index, int64_t step) const {
  char name[64];
  std::snprintf(name, sizeof(name), "ckpt-%04d-%012lld%s", static_cast<int>(phase_index),
                static_cast<long long>(step), kSuffix);
  return options_.dir + "/" + name;
}

StatusOr<std::vector<std::string>> CheckpointStore::List() const {
  DIR* dir = ::opendir(options_.dir.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return std::vector<std::string>();
    return IoError(OsError("cannot list checkpoint directory", options_.dir));
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    const size_t suffix = sizeof(kSuffix) - 1;
    if (name.rfind("ckpt-", 0) == 0 && name.size() > suffix &&
        name.compare(name.size() - suffix, suffix, kSuffix) == 0) {
      names.push_back(name);
    }
  }
  ::closedir(dir);
  // Fixed-width numbers: name order is (phase, step) order.
  std::sort(names.begin(), names.end());
  for (std::string& name : names) name = options_.dir + "/" + name;
  return names;
}

StatusOr<std::string> CheckpointStore::Save(const Checkpoint& checkpoint) {
  if (::mkdir(options_.dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return IoError(OsError("cannot create checkpoint directory", options_.dir));
  }
  const std::string path = PathFor(checkpoint.phase_index, checkpoint.step);
  IAK_RETURN_IF_ERROR(WriteCheckpointFile(path, checkpoint));
  IAK_ASSIGN_OR_RETURN(std::vector<std::string> files, List());
  const size_t keep = static_cast<size_t>(options_.keep_last);
  for (size_t i = 0; i + keep < files.size(); ++i) {
    if (::unlink(files[i].c_str()) != 0) {
      LOG(WARNING) << OsError("cannot delete old checkpoint", files[i]);
    }
  }
  return path;
}

StatusOr<LoadedCheckpoint> CheckpointStore::LoadLatest() const {
  IAK_ASSIGN_OR_RETURN(std::vector<std::string> files, List());
  if (files.empty()) {
    return NotFoundError("no checkpoint in " + options_.dir + " (nothing to resume from)");
  }
  LoadedCheckpoint loaded;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    StatusOr<Checkpoint> checkpoint = ReadCheckpointFile(*it);
    if (checkpoint.ok()) {
      loaded.checkpoint = std::move(checkpoint).value();
      loaded.path = *it;
      return loaded;
    }
    LOG(WARNING) << checkpoint.status();
    loaded.refused.emplace_back(*it, checkpoint.status());
  }
  std::string why;
  for (const auto& [path, status] : loaded.refused) why += "\n  " + status.ToString();
  return DataLossError("no intact checkpoint in " + options_.dir + "; every file was refused:" +
                       why);
}

}  // namespace iak::worker
