// `iak keygen`: makes a job's CURVE key pair for `security { curve_key_file }`.
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "net/curve.h"

DEFINE_string(key_out, "job.key", "where to write the key pair (created with mode 0600)");

namespace iak::cli {

int RunKeygen(int, char**) {
  // An empty path left the secret key in a stray ".tmp" here before failing.
  if (FLAGS_key_out.empty()) {
    return ReportError("keygen", InvalidArgumentError(
                                     "--key_out is empty: name the key file to write, e.g. "
                                     "--key_out=job.key"));
  }
  StatusOr<net::CurveKeyPair> keys = net::GenerateCurveKeyPair();
  if (!keys.ok()) return ReportError("keygen", keys.status());
  Status written = net::WriteCurveKeyFile(FLAGS_key_out, *keys);
  if (!written.ok()) return ReportError("keygen", written);
  std::cout << "wrote " << FLAGS_key_out << " (public key " << keys->public_key
            << ")\nadd to the job spec:  security { curve_key_file: \"" << FLAGS_key_out
            << "\" }\nand make the file readable by every node of the job, and nobody else\n";
  return 0;
}

}  // namespace iak::cli
