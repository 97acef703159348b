// `iak predict`: scores mixed-domain samples with every domain's adapter
// loaded at once, each sample through its own domain's adapter, in one pass.
#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "common/report_text.h"
#include "data/schema.h"
#include "data/text_reader.h"
#include "model/metrics.h"
#include "worker/domain_predictor.h"
#include "worker/job_data.h"

// --input is data_command.cc's flag (one gflags name per binary): here a split
// of the job's data (test, the default, validation or train: every domain's
// samples of it, mixed) or a text file read with the job's data.schema_file.
DECLARE_string(input);
// --out (pretrain_command.cc's flag; one gflags name per binary): the scores
// CSV, default <output_dir>/scores.csv.
DECLARE_string(out);
// Defined with `iak bench predict` (bench/predict_bench.cc), which shares it.
DECLARE_int32(predict_batch);

namespace iak::cli {
namespace {

// "0.7312", or why the AUC is undefined (a single class among the labels).
std::string AucText(const StatusOr<double>& auc) {
  if (!auc.ok()) return "n/a (" + auc.status().message() + ")";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", *auc);
  return buf;
}

}  // namespace

int RunPredict(int, char**) {
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("predict", spec.status());
  if (FLAGS_input.empty()) FLAGS_input = "test";
  data::Dataset file_data;
  worker::JobData job;
  const data::Dataset* dataset = nullptr;
  data::SampleIds ids;
  if (FLAGS_input == "test" || FLAGS_input == "validation" || FLAGS_input == "train") {
    StatusOr<worker::JobData> loaded = worker::LoadJobData(spec->data());
    if (!loaded.ok()) return ReportError("predict", loaded.status());
    job = std::move(*loaded);
    for (const data::DomainSplit& split : job.splits) {
      const data::SampleIds& part = FLAGS_input == "test"         ? split.test
                                    : FLAGS_input == "validation" ? split.validation
                                                                  : split.train;
      ids.insert(ids.end(), part.begin(), part.end());
    }
    std::sort(ids.begin(), ids.end());  // sample order: domains mixed
    dataset = &job.dataset;
  } else {
    if (spec->data().schema_file().empty()) {
      return ReportError("predict", InvalidArgumentError(
                                        "--input=" + FLAGS_input +
                                        " is a file, but the job has no data.schema_file to read "
                                        "it with; use --input=test|validation|train"));
    }
    StatusOr<data::CompiledSchema> schema = data::LoadSchema(spec->data().schema_file());
    if (!schema.ok()) return ReportError("predict", schema.status());
    data::TextReadReport read_report;
    StatusOr<data::Dataset> read =
        data::ReadTextFiles(*schema, {FLAGS_input}, data::TextReadOptions{}, &read_report);
    if (!read.ok()) return ReportError("predict", read.status());
    file_data = std::move(*read);
    for (uint32_t s = 0; s < file_data.size(); ++s) ids.push_back(s);
    dataset = &file_data;
  }
  StatusOr<std::unique_ptr<worker::JobModels>> models =
      worker::LoadJobModels(*spec, dataset->domain_names);
  if (!models.ok()) return ReportError("predict", models.status());
  StatusOr<worker::DomainPredictor> predictor = (*models)->MakePredictor();
  if (!predictor.ok()) return ReportError("predict", predictor.status());
  const bool esmm = (*models)->base->config().num_tasks == 2;
  std::vector<float> p_ctr(ids.size()), p_ctcvr(esmm ? ids.size() : 0);
  worker::PredictOptions options;
  options.batch_size = FLAGS_predict_batch;
  const auto start = std::chrono::steady_clock::now();
  Status scored = worker::PredictSamples(*dataset, ids, *(*models)->rows, options, &*predictor,
                                         p_ctr.data(), esmm ? p_ctcvr.data() : nullptr,
                                         (*models)->DomainRows(), (*models)->DomainBiases());
  if (!scored.ok()) return ReportError("predict", scored);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string out =
      FLAGS_out.empty() ? spec->output_dir() + "/scores.csv" : FLAGS_out;
  std::ofstream csv(out);
  if (!csv) return ReportError("predict", IoError("cannot write " + out));
  csv << "sample,domain,adapter,click,p_ctr" << (esmm ? ",conversion,p_ctcvr" : "") << "\n";
  int64_t through_base = 0;
  char buf[64];
  for (size_t i = 0; i < ids.size(); ++i) {
    const int d = dataset->domain[ids[i]];
    const bool adapted = (*models)->Tuned(static_cast<size_t>(d));
    through_base += adapted ? 0 : 1;
    std::snprintf(buf, sizeof(buf), "%.7g", p_ctr[i]);
    csv << ids[i] << "," << CsvField(dataset->domain_names[d]) << "," << (adapted ? 1 : 0) << ","
        << dataset->click[ids[i]] << "," << buf;
    if (esmm) {
      std::snprintf(buf, sizeof(buf), "%.7g", p_ctcvr[i]);
      csv << "," << (dataset->has_conversion() ? dataset->conversion[ids[i]] : 0.0f) << ","
          << buf;
    }
    csv << "\n";
  }
  csv.close();
  if (!csv) return ReportError("predict", IoError("error writing " + out));
  // Quality over every scored sample (domains mixed): CTR-AUC, and CTCVR-AUC
  // when the base has two tasks and the data conversion labels.
  std::vector<float> click(ids.size()), conversion;
  for (size_t i = 0; i < ids.size(); ++i) click[i] = dataset->click[ids[i]];
  std::cout << "CTR-AUC " << AucText(model::RocAuc(p_ctr, click));
  if (esmm && dataset->has_conversion()) {
    conversion.resize(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) conversion[i] = dataset->conversion[ids[i]];
    std::cout << ", CTCVR-AUC " << AucText(model::CtcvrAuc(p_ctcvr, click, conversion));
  }
  std::cout << " over the " << ids.size() << " scored samples\n";
  std::cout << "scored " << ids.size() << " samples from " << dataset->domain_names.size()
            << " domains (" << (*models)->num_adapters
            << ((*models)->dense_models.empty() ? " adapters" : " fine-tuned models")
            << " loaded; " << through_base
            << " samples of domains without one scored by the frozen base) in " << seconds
            << " s (" << (seconds > 0 ? ids.size() / seconds : 0) << " samples/s); scores in "
            << out << "\n";
  return 0;
}

}  // namespace iak::cli
