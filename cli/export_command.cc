// `iak export`: a job's dense weights and adapters as safetensors (docs/export.md).
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "worker/exporter.h"

// --out is pretrain_command.cc's flag (one gflags name per binary): here the
// export directory, default <output_dir>/export.
DECLARE_string(out);

namespace iak::cli {

int RunExport(int, char**) {
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("export", spec.status());
  const std::string out = FLAGS_out.empty() ? spec->output_dir() + "/export" : FLAGS_out;
  StatusOr<worker::ExportReport> report = worker::ExportJob(*spec, out);
  if (!report.ok()) return ReportError("export", report.status());
  std::cout << "wrote " << report->path << ": " << report->num_tensors << " tensors, "
            << report->bytes << " bytes, dense weights + " << report->domains.size()
            << " adapters (";
  for (size_t i = 0; i < report->domains.size(); ++i) {
    std::cout << (i ? ", " : "") << report->domains[i];
  }
  std::cout << ")\n";
  return 0;
}

}  // namespace iak::cli
