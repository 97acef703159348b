#include "worker/pretrain_job.h"

#include "embedding/manifest_io.h"
#include "embedding/snapshot_writer.h"
#include "worker/job_data.h"

namespace iak::worker {

StatusOr<PretrainJobResult> RunPretrainJob(const PretrainJobOptions& options) {
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(options.data));
  LOG(INFO) << "read " << job.report.samples << " samples in "
            << job.dataset.domain_names.size() << " periods";
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
  IAK_ASSIGN_OR_RETURN(model::PretrainResult trained,
                       model::Pretrain(job.dataset, ids, options.train));

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
  manifest.set_data_description("MovieLens " + options.data.movielens_dir() + ", periods " +
                                periods + ", " + std::to_string(ids.size()) + " samples");

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
  return result;
}

}  // namespace iak::worker
