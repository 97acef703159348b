// ZeroMQ CURVE security for the links of a job: every node holds the job's
// key pair (from `iak keygen`); listeners act as CURVE servers and accept a
// client only if it proves it holds the job's secret key (a ZAP handler
// checks the client's public key), and clients only talk to servers that
// hold it too. Traffic is encrypted. A peer without the key gets no reply.
//
// Keys are Z85 text (40 characters), as zmq_curve_keypair makes them.
#ifndef IAK_NET_CURVE_H_
#define IAK_NET_CURVE_H_

#include <atomic>
#include <string>
#include <thread>

#include "common/status.h"

namespace iak::net {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

[[nodiscard]] StatusOr<CurveKeyPair> GenerateCurveKeyPair();

// Key file: two lines "public: <z85>" and "secret: <z85>", mode 0600.
[[nodiscard]] Status WriteCurveKeyFile(const std::string& path, const CurveKeyPair& keys);
// InvalidArgument naming the file for anything but a well-formed key file.
[[nodiscard]] StatusOr<CurveKeyPair> ReadCurveKeyFile(const std::string& path);

// Answers ZeroMQ's authentication (ZAP) requests for one context: a CURVE
// client is accepted only when its public key is `allowed_public_key`.
//
// Thread-safety: runs its own thread; refused() may be read from any thread.
class ZapAuthenticator {
 public:
  ZapAuthenticator(void* zmq_context, std::string allowed_public_key);
  ~ZapAuthenticator();  // stops the thread and closes its socket

  [[nodiscard]] Status Start();
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  void Serve();

  void* context_;
  std::string allowed_;  // binary (32 bytes)
  void* socket_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace iak::net

#endif  // IAK_NET_CURVE_H_
