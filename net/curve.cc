#include "net/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>


namespace iak::net {
namespace {

constexpr int kZ85KeyLength = 40;
constexpr int kPollMs = 100;

bool ValidZ85Key(const std::string& key) {
  uint8_t binary[32];
  return key.size() == kZ85KeyLength && zmq_z85_decode(binary, key.c_str()) != nullptr;
}

std::string ReceivePart(void* socket, bool* more) {
  zmq_msg_t part;
  zmq_msg_init(&part);
  std::string bytes;
  if (zmq_msg_recv(&part, socket, 0) >= 0) {
    bytes.assign(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
  }
  *more = zmq_msg_more(&part) != 0;
  zmq_msg_close(&part);
  return bytes;
}

}  // namespace

StatusOr<CurveKeyPair> GenerateCurveKeyPair() {
  char public_key[kZ85KeyLength + 1];
  char secret_key[kZ85KeyLength + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return UnavailableError(std::string("cannot make a CURVE key pair: ") +
                            zmq_strerror(zmq_errno()) +
                            " (is libzmq built with libsodium/CURVE support?)");
  }
  return CurveKeyPair{public_key, secret_key};
}

Status WriteCurveKeyFile(const std::string& path, const CurveKeyPair& keys) {
  // Private from its first byte: created 0600, then renamed into place.
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + tmp + ": " + std::strerror(errno));
  const std::string text = "# IAK-PS job key (ZeroMQ CURVE). Keep it secret.\npublic: " +
                           keys.public_key + "\nsecret: " + keys.secret_key + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (::close(fd) != 0 || !written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot write key file " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

StatusOr<CurveKeyPair> ReadCurveKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open key file " + path + "; make one with `iak keygen`");
  CurveKeyPair keys;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(": ");
    const std::string name = line.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : line.substr(colon + 2);
    if (name == "public") {
      keys.public_key = value;
    } else if (name == "secret") {
      keys.secret_key = value;
    } else {
      return InvalidArgumentError(path + ":" + std::to_string(number) +
                                  ": expected 'public: <key>' or 'secret: <key>'");
    }
  }
  if (!ValidZ85Key(keys.public_key) || !ValidZ85Key(keys.secret_key)) {
    return InvalidArgumentError(path + " does not hold a valid CURVE key pair (40-character Z85 "
                                       "keys); make one with `iak keygen`");
  }
  return keys;
}

ZapAuthenticator::ZapAuthenticator(void* zmq_context, std::string allowed_public_key)
    : context_(zmq_context) {
  allowed_.resize(32);
  zmq_z85_decode(reinterpret_cast<uint8_t*>(allowed_.data()), allowed_public_key.c_str());
}

ZapAuthenticator::~ZapAuthenticator() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (socket_ != nullptr) zmq_close(socket_);
}

Status ZapAuthenticator::Start() {
  socket_ = zmq_socket(context_, ZMQ_REP);
  if (socket_ == nullptr) return UnavailableError("cannot create the ZAP socket");
  const int zero = 0;
  zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof(zero));
  // ZeroMQ asks this fixed in-process endpoint of the context.
  if (zmq_bind(socket_, "inproc://zeromq.zap.01") != 0) {
    return UnavailableError(std::string("cannot bind the ZAP handler: ") +
                            zmq_strerror(zmq_errno()));
  }
  thread_ = std::thread([this] { Serve(); });
  return Status::Ok();
}

void ZapAuthenticator::Serve() {
  while (!stop_.load()) {
    zmq_pollitem_t item{socket_, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, kPollMs) <= 0) continue;
    // ZAP 1.0 request: version, request id, domain, address, identity,
    // mechanism, then the mechanism's credentials (CURVE: the client key).
    std::vector<std::string> parts;
    bool more = true;
    while (more) parts.push_back(ReceivePart(socket_, &more));
    const bool allowed = parts.size() >= 7 && parts[5] == "CURVE" && parts[6] == allowed_;
    (allowed ? accepted_ : refused_).fetch_add(1);
    const std::string request_id = parts.size() > 1 ? parts[1] : "";
    const std::vector<std::string> reply = {
        "1.0", request_id, allowed ? "200" : "400",
        allowed ? "OK" : "client key is not this job's key", "", ""};
    for (size_t i = 0; i < reply.size(); ++i) {
      zmq_send(socket_, reply[i].data(), reply[i].size(), i + 1 < reply.size() ? ZMQ_SNDMORE : 0);
    }
  }
}

}  // namespace iak::net
