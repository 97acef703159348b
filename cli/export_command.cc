// `iak export`: a job's dense weights and adapters as safetensors (docs/export.md).
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "worker/exporter.h"
#include "worker/torch_export.h"

// --out is pretrain_command.cc's flag (one gflags name per binary): here the
// export directory, default <output_dir>/export.
DECLARE_string(out);
DEFINE_bool(torch, false,
            "export: also write the whole model (embedding rows, dense layers in "
            "torch.nn.Linear layout, adapters) to <out>/torch for iakps.torch.load_model "
            "(docs/export.md)");
DEFINE_int64(rows_per_file, int64_t{1} << 20, "export --torch: embedding rows in each rows file");

namespace iak::cli {

int RunExport(int, char**) {
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("export", spec.status());
  const std::string out = FLAGS_out.empty() ? spec->output_dir() + "/export" : FLAGS_out;
  StatusOr<worker::ExportReport> report = worker::ExportJob(*spec, out);
  if (!report.ok()) return ReportError("export", report.status());
  std::cout << "wrote " << report->path << ": " << report->num_tensors << " tensors, "
            << report->bytes << " bytes, dense weights + " << report->domains.size()
            << (report->dense_models ? " fine-tuned dense models (" : " adapters (");
  for (size_t i = 0; i < report->domains.size(); ++i) {
    std::cout << (i ? ", " : "") << report->domains[i];
  }
  std::cout << ")\n";
  if (!FLAGS_torch) return 0;
  worker::TorchExportOptions options;
  options.rows_per_file = FLAGS_rows_per_file;
  StatusOr<worker::TorchExportReport> torch =
      worker::ExportTorchModel(*spec, out + "/torch", options);
  if (!torch.ok()) return ReportError("export", torch.status());
  std::cout << "wrote " << torch->dir << ": " << torch->files.size() << " files, "
            << torch->bytes << " bytes, " << torch->num_rows << " embedding rows";
  if (torch->num_new_rows > 0) std::cout << " + " << torch->num_new_rows << " new-key rows";
  std::cout << " (load with iakps.torch.load_model)\n";
  return 0;
}

}  // namespace iak::cli
