#include "worker/validation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "model/metrics.h"

namespace iak::worker {
namespace {

constexpr int kScoreBatch = 1024;

}  // namespace

ValidationOptions ValidationOptionsFor(const proto::JobSpec& spec) {
  const proto::ValidationSpec& v = spec.validation();
  ValidationOptions o;
  o.enabled = !v.disabled();
  if (v.every_n_steps() > 0) o.every_n_steps = v.every_n_steps();
  if (v.patience() != 0) o.patience = v.patience();
  o.min_delta = v.min_delta();
  return o;
}

StatusOr<proto::ValidationPoint> EvaluateShared(DomainModel* model, const data::Dataset& data,
                                                const data::SampleIds& ids,
                                                collective::Communicator* group,
                                                Deadline deadline) {
  const int rank = group->rank();
  const int size = group->size();
  std::vector<uint32_t> mine;
  for (size_t i = static_cast<size_t>(rank); i < ids.size(); i += static_cast<size_t>(size)) {
    mine.push_back(ids[i]);
  }
  std::vector<float> my_scores(mine.size());
  for (size_t begin = 0; begin < mine.size(); begin += kScoreBatch) {
    const int n = static_cast<int>(std::min<size_t>(kScoreBatch, mine.size() - begin));
    IAK_RETURN_IF_ERROR(model->Score(mine.data() + begin, n, my_scores.data() + begin, nullptr));
  }
  // Every rank's scores at their positions, zeros elsewhere: the sum is the
  // whole split's scores, the same on every rank.
  std::vector<float> scores(ids.size(), 0.0f);
  for (size_t j = 0; j < mine.size(); ++j) scores[static_cast<size_t>(rank) + j * size] = my_scores[j];
  if (size > 1) IAK_RETURN_IF_ERROR(group->AllReduceSum(scores.data(), scores.size(), deadline));
  std::vector<float> labels(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) labels[i] = data.click[ids[i]];
  proto::ValidationPoint point;
  StatusOr<double> auc = model::RocAuc(scores, labels);
  point.set_auc(auc.ok() ? *auc : std::numeric_limits<double>::quiet_NaN());
  point.set_logloss(ids.empty() ? std::numeric_limits<double>::quiet_NaN()
                                : model::LogLoss(scores.data(), labels.data(), ids.size()));
  return point;
}

Status RecordPoint(const ValidationOptions& options, const proto::ValidationPoint& point,
                   DomainModel* model, proto::UnitValidation* record) {
  *record->add_curve() = point;
  const double auc = point.auc();
  if (!record->evaluated()) {
    record->set_evaluated(true);
    record->set_base_auc(auc);
    record->set_base_logloss(point.logloss());
    record->set_best_auc(auc);
    record->set_best_step(std::isnan(auc) ? -1 : point.global_step());
    if (!std::isnan(auc)) {
      const std::vector<float> params = model->Params();
      record->mutable_best_params()->Assign(params.begin(), params.end());
      IAK_RETURN_IF_ERROR(model->MarkBest());
    }
    return Status::Ok();
  }
  if (std::isnan(auc) || !SelectsBest(*record)) return Status::Ok();
  if (auc > record->best_auc() + options.min_delta) {
    record->set_best_auc(auc);
    record->set_best_step(point.global_step());
    record->set_bad_evals(0);
    const std::vector<float> params = model->Params();
    record->mutable_best_params()->Assign(params.begin(), params.end());
    return model->MarkBest();
  }
  record->set_bad_evals(record->bad_evals() + 1);
  if (options.patience >= 0 && record->bad_evals() >= options.patience && !record->stopped()) {
    record->set_stopped(true);
    record->set_stopped_at(point.global_step());
  }
  return Status::Ok();
}

bool SelectsBest(const proto::UnitValidation& record) {
  return record.evaluated() && record.best_step() >= 0;
}

bool KeptBase(const proto::UnitValidation& record) {
  return SelectsBest(record) && record.best_step() == 0;
}

}  // namespace iak::worker
