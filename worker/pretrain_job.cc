#include "worker/pretrain_job.h"

#include "embedding/manifest_io.h"
#include "embedding/snapshot_writer.h"
#include "worker/job_data.h"

namespace iak::worker {

StatusOr<int> ResolveNumTasks(int requested, bool has_conversion, const std::string& source) {
  switch (requested) {
    case 0:
      return has_conversion ? 2 : 1;
    case 1:
      return 1;
    case 2:
      if (has_conversion) return 2;
      return InvalidArgumentError(
          "num_tasks 2 (ESMM: CTR and CTCVR towers) needs conversion labels, and the data (" +
          source +
          ") has none: give the schema a COLUMN_CONVERSION column (docs/data.md), or "
          "pre-train a click model with num_tasks 1 or auto");
    default:
      return InvalidArgumentError("num_tasks must be auto (0), 1 (CTR) or 2 (ESMM: CTR and "
                                  "CTCVR), not " +
                                  std::to_string(requested));
  }
}

StatusOr<PretrainJobResult> RunPretrainJob(const PretrainJobOptions& options) {
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(options.data));
  // Checked before the (long) training, so a wrong request fails at once.
  IAK_ASSIGN_OR_RETURN(const int num_tasks, ResolveNumTasks(options.num_tasks,
                                                            job.dataset.has_conversion(),
                                                            job.source));
  LOG(INFO) << "read " << job.dataset.size() << " samples in " << job.dataset.domain_names.size()
            << " domains from " << job.source << (job.dataset.has_conversion()
                                                      ? " (with conversion labels)"
                                                      : " (click labels only)");
  if (job.dataset.has_conversion() && num_tasks == 1) {
    LOG(WARNING) << "pre-training a one-task (CTR) base although the data has conversion "
                    "labels: they are not trained on, and evaluation reports no CTCVR-AUC";
  }
  // Every sample of the early periods trains the base: they are never
  // evaluated, so they need no held-out part.
  data::SampleIds ids;
  for (int domain : job.pretrain_domains) {
    const data::DomainSplit& split = job.splits[domain];
    for (const data::SampleIds* part : {&split.train, &split.validation, &split.test}) {
      ids.insert(ids.end(), part->begin(), part->end());
    }
  }
  if (ids.empty()) {
    return InvalidArgumentError("the pre-training periods hold no samples; check "
                                "data.period_bounds and data.pretrain_periods");
  }
  model::PretrainOptions train = options.train;
  train.num_tasks = num_tasks;
  LOG(INFO) << "pre-training a " << (num_tasks == 2 ? "two-task ESMM (CTR, CTCVR)" : "CTR")
            << " base on " << ids.size() << " samples";
  IAK_ASSIGN_OR_RETURN(model::PretrainResult trained, model::Pretrain(job.dataset, ids, train));

  proto::ModelManifest manifest;
  for (const data::FieldInfo& field : job.dataset.fields) {
    proto::FieldSchema* schema = manifest.add_fields();
    schema->set_name(field.name);
    schema->set_multi_valued(field.multi_valued);
    schema->set_pooling(field.pooling == data::Pooling::kMean ? "mean" : "sum");
  }
  const model::BaseModelConfig& config = trained.model.config();
  for (int h : config.bottom_hidden) manifest.add_bottom_hidden(h);
  for (int h : config.tower_hidden) manifest.add_tower_hidden(h);
  manifest.set_num_tasks(config.num_tasks);
  std::string periods;
  for (int domain : job.pretrain_domains) {
    periods += (periods.empty() ? "" : ", ") + job.dataset.domain_names[domain];
  }
  manifest.set_data_description(job.source + ", periods " + periods + ", " +
                                std::to_string(ids.size()) + " samples" +
                                (num_tasks == 2 ? ", click and conversion labels" : ""));

  embedding::SnapshotContents contents;
  contents.embedding_dim = config.embedding_dim;
  contents.num_shards = options.num_shards;
  contents.table = &trained.table;
  contents.dense_blob = trained.model.Serialize();
  contents.base_manifest = manifest;
  contents.overwrite = options.overwrite;
  IAK_RETURN_IF_ERROR(embedding::WriteModelDirectory(options.model_dir, contents));
  IAK_ASSIGN_OR_RETURN(proto::ModelManifest written,
                       embedding::ReadManifest(options.model_dir));

  PretrainJobResult result;
  result.snapshot_id = written.snapshot_id();
  result.samples = static_cast<int64_t>(ids.size());
  result.rows = trained.table.size();
  result.epoch_losses = trained.epoch_losses;
  result.num_tasks = written.num_tasks();
  result.has_conversion = job.dataset.has_conversion();
  return result;
}

}  // namespace iak::worker
