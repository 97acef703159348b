#include "job/job_spec.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "job/adapter_insertion.h"
#include "proto/text_format.h"

namespace iak::job {
namespace {

// The fine-tuning methods a job can choose (JobSpec.method, docs/job_spec.md
// "Methods on the cluster").
constexpr const char* kMethods[] = {"iak", "plain", "frozen", "dense", "lora", "full"};

// JobSpec.method: one of kMethods. (What "full" needs besides, one fine-tuned
// domain, is checked by its worker, which knows the data.)
Status ValidateMethod(const proto::JobSpec& spec) {
  if (spec.method().empty()) return Status::Ok();  // = "iak" (ApplyDefaults)
  if (spec.method() == "lora" && (spec.lora().rank() < 1 || !(spec.lora().alpha() > 0))) {
    return InvalidArgumentError("job spec field 'lora' = {rank: " +
                                std::to_string(spec.lora().rank()) + ", alpha: " +
                                std::to_string(spec.lora().alpha()) +
                                "}: method \"lora\" needs rank >= 1 and alpha > 0 (defaults 4 "
                                "and rank)");
  }
  std::string names;
  for (const char* m : kMethods) {
    if (spec.method() == m) return Status::Ok();
    names += names.empty() ? std::string("\"") + m + "\"" : std::string(", \"") + m + "\"";
  }
  return InvalidArgumentError("job spec field 'method' = \"" + spec.method() +
                              "\": unknown fine-tuning method; choose one of " + names +
                              " (docs/job_spec.md, Methods on the cluster)");
}

// iak.new_key_rows (docs/new_key_rows.md) and iak.key_biases
// (docs/key_biases.md): parameters trained with an adapter on h or x. Their
// names and ranges are checked where the options are read
// (worker::NewKeyRowsOptionsFor, worker::KeyBiasesOptionsFor, against the
// data's fields), when the job starts.
Status ValidateTrainedWithAdapter(const proto::JobSpec& spec, const std::string& field,
                                  bool enabled) {
  if (!enabled) return Status::Ok();
  const std::string& method = spec.method();
  if (!method.empty() && method != "iak" && method != "plain") {
    return InvalidArgumentError("job spec field '" + field + "' is enabled but method is \"" +
                                method + "\": it trains with an adapter (method \"iak\" or "
                                "\"plain\"); turn it off for other methods");
  }
  if (spec.iak().insertion() == "tower") {
    return InvalidArgumentError("job spec field '" + field + "' is enabled but iak.insertion "
                                "is \"tower\": it trains with an adapter on h or x; use "
                                "insertion \"h\" or \"x\", or turn it off");
  }
  return Status::Ok();
}

Status ValidateKeyBiases(const proto::JobSpec& spec) {
  const proto::KeyBiasesSpec& biases = spec.iak().key_biases();
  IAK_RETURN_IF_ERROR(ValidateTrainedWithAdapter(spec, "iak.key_biases", biases.enabled()));
  if (biases.enabled() && biases.fields().empty()) {
    return InvalidArgumentError(
        "job spec field 'iak.key_biases' is enabled but names no fields: list the fields whose "
        "keys get a bias, e.g. key_biases { enabled: true fields: [\"user\", \"movie\"] }");
  }
  return Status::Ok();
}

// JobSpec.domain_plan (docs/job_spec.md, "Domain plan"): defaults only when
// the plan is on, so a job without it prints unchanged.
void ApplyDomainPlanDefaults(proto::JobSpec* spec) {
  if (!spec->has_domain_plan() || !spec->domain_plan().enabled()) return;
  proto::DomainPlanSpec* plan = spec->mutable_domain_plan();
  if (plan->min_batch() == 0) plan->set_min_batch(std::min(32, std::max(1, spec->batch_size())));
  if (plan->reference().empty()) plan->set_reference("median");
  if (plan->min_train_samples() == 0) plan->set_min_train_samples(200);
  if (plan->min_validation_positives() == 0) plan->set_min_validation_positives(10);
}

Status ValidateDomainPlan(const proto::JobSpec& spec) {
  const proto::DomainPlanSpec& plan = spec.domain_plan();
  if (!plan.enabled()) return Status::Ok();
  auto bad = [](const std::string& field, const std::string& value, const std::string& allowed) {
    return InvalidArgumentError("domain_plan." + field + " is " + value + "; allowed: " + allowed);
  };
  if (spec.elastic().enabled()) {
    return InvalidArgumentError(
        "domain_plan.enabled with elastic.enabled: elastic jobs train every domain with one "
        "uniform batch_size (docs/job_spec.md, Domain plan); turn one of them off");
  }
  if (spec.method() != "iak" && spec.method() != "plain") {
    return bad("enabled", "true for method \"" + spec.method() + "\"",
               "only with method \"iak\" or \"plain\" (the adapter worker)");
  }
  if (plan.min_batch() < 1 || plan.min_batch() > spec.batch_size()) {
    return bad("min_batch", std::to_string(plan.min_batch()),
               "1..batch_size (" + std::to_string(spec.batch_size()) + ")");
  }
  if (plan.reference() != "median" && plan.reference() != "largest") {
    return bad("reference", "\"" + plan.reference() + "\"", "\"median\" or \"largest\"");
  }
  if (plan.min_train_samples() < 0) {
    return bad("min_train_samples", std::to_string(plan.min_train_samples()), ">= 0");
  }
  if (plan.min_validation_positives() < 0) {
    return bad("min_validation_positives", std::to_string(plan.min_validation_positives()),
               ">= 0");
  }
  return Status::Ok();
}

// A number for messages: "nan", "inf", "1e+30", "0.001".
std::string Num(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", v);
  return text;
}

Status Bad(const std::string& field, const std::string& value, const std::string& allowed) {
  return InvalidArgumentError("job spec field '" + field + "' = " + value + ": " + allowed);
}

// `v` must be finite and in [lo, hi] (with lo excluded when `lo_open`).
Status CheckRange(const std::string& field, double v, double lo, bool lo_open, double hi,
                  const std::string& meaning = "") {
  const bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
  if (ok) return Status::Ok();
  return Bad(field, Num(v),
             std::string("must be a finite number in ") + (lo_open ? "(" : "[") + Num(lo) + ", " +
                 Num(hi) + "]" + meaning);
}

Status CheckIntRange(const std::string& field, int64_t v, int64_t lo, int64_t hi,
                     const std::string& meaning = "") {
  if (v >= lo && v <= hi) return Status::Ok();
  return Bad(field, std::to_string(v),
             "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]" + meaning);
}

// Widths of the IAK adapter (latent_dim, encoder_hidden, decoder_hidden):
// the adapter is small by design; the cap keeps a typo (2e9) from reaching
// the workers, which would abort allocating it after the cluster started.
Status ValidateAdapterShape(const proto::IakSpec& iak) {
  if (!ParseAdapterInsertion(iak.insertion()).ok()) {
    return Bad("iak.insertion", "\"" + iak.insertion() + "\"",
               "choose \"h\" (the bottom MLP's output; the default), \"x\" (the pooled "
               "embedding input) or \"tower\" (the CTR tower's first hidden layer)");
  }
  IAK_RETURN_IF_ERROR(CheckIntRange("iak.latent_dim", iak.latent_dim(), 1, kMaxAdapterWidth));
  for (const auto* layers : {&iak.encoder_hidden(), &iak.decoder_hidden()}) {
    const std::string name =
        layers == &iak.encoder_hidden() ? "iak.encoder_hidden" : "iak.decoder_hidden";
    if (layers->size() > kMaxAdapterLayers) {
      return Bad(name, std::to_string(layers->size()) + " layers",
                 "at most " + std::to_string(kMaxAdapterLayers));
    }
    if (layers->size() == 1 && layers->Get(0) == 0) continue;  // no hidden layer
    for (int i = 0; i < layers->size(); ++i) {
      IAK_RETURN_IF_ERROR(CheckIntRange(name + "[" + std::to_string(i) + "]", layers->Get(i), 1,
                                        kMaxAdapterWidth,
                                        " (a single 0 means no hidden layer)"));
    }
  }
  if (!iak.fields().empty() && iak.insertion() != "x") {
    return Bad("iak.fields", "[" + iak.fields(0) + ", ...]",
               "reads fields' pooled embeddings: set iak.insertion to \"x\" (it is \"" +
                   (iak.insertion().empty() ? std::string("h") : iak.insertion()) + "\")");
  }
  if (iak.has_initial_logvar() &&
      !(iak.initial_logvar() >= -20.0f && iak.initial_logvar() <= 20.0f)) {
    return Bad("iak.initial_logvar", std::to_string(iak.initial_logvar()),
               "must be in [-20, 20] (the training noise starts at std exp(initial_logvar / 2))");
  }
  return Status::Ok();
}

Status ValidatePhases(const proto::JobSpec& spec) {
  for (int i = 0; i < spec.phases_size(); ++i) {
    const proto::PhaseCommand& phase = spec.phases(i);
    const std::string at = "phases[" + std::to_string(i) + "].";
    if (phase.phase() != proto::PHASE_COMPRESSION && phase.phase() != proto::PHASE_MATCHING) {
      const std::string& name = proto::Phase_Name(phase.phase());
      return Bad(at + "phase",
                 name.empty() ? std::to_string(phase.phase()) + " (no such phase)" : name,
                 "PHASE_COMPRESSION or PHASE_MATCHING");
    }
    if (phase.steps() < 0) return Bad(at + "steps", std::to_string(phase.steps()), ">= 0");
    IAK_RETURN_IF_ERROR(CheckRange(at + "beta", phase.beta(), 0, false, kMaxBeta));
    IAK_RETURN_IF_ERROR(CheckRange(at + "learning_rate", phase.learning_rate(), 0, true,
                                   kMaxLearningRate,
                                   " (a larger rate diverges: the loss becomes NaN)"));
  }
  return Status::Ok();
}

Status ValidateTimeouts(const proto::TimeoutSpec& t) {
  const std::pair<const char*, int64_t> fields[] = {
      {"timeouts.heartbeat_interval_ms", t.heartbeat_interval_ms()},
      {"timeouts.heartbeat_timeout_ms", t.heartbeat_timeout_ms()},
      {"timeouts.startup_timeout_ms", t.startup_timeout_ms()},
      {"timeouts.barrier_timeout_ms", t.barrier_timeout_ms()},
      {"timeouts.collective_timeout_ms", t.collective_timeout_ms()},
      {"timeouts.pull_timeout_ms", t.pull_timeout_ms()},
  };
  for (const auto& [name, value] : fields) {
    // A day: longer waits are typos, and the deadline arithmetic stays far from overflow.
    IAK_RETURN_IF_ERROR(CheckIntRange(name, value, 1, int64_t{24} * 3600 * 1000,
                                      " milliseconds (unset = the default)"));
  }
  return Status::Ok();
}

}  // namespace

void ApplyDefaults(proto::JobSpec* spec) {
  if (spec->name().empty()) spec->set_name("iak-job");
  if (spec->output_dir().empty()) spec->set_output_dir("runs/" + spec->name());
  proto::DataSpec* data = spec->mutable_data();
  if (data->movielens_dir().empty()) data->set_movielens_dir("datasets/ml-latest-small");
  if (data->period_bounds().empty()) {
    for (int b : {1996, 2004, 2008, 2012, 2016, 2019}) data->add_period_bounds(b);
  }
  if (data->pretrain_periods() == 0) data->set_pretrain_periods(1);
  if (data->train_fraction() == 0) data->set_train_fraction(0.8);
  if (data->validation_fraction() == 0) data->set_validation_fraction(0.1);
  proto::IakSpec* iak = spec->mutable_iak();
  if (iak->latent_dim() == 0) iak->set_latent_dim(16);
  if (iak->encoder_hidden().empty()) iak->add_encoder_hidden(32);
  if (iak->decoder_hidden().empty()) iak->add_decoder_hidden(32);
  if (spec->phases().empty()) {
    proto::PhaseCommand* c = spec->add_phases();
    c->set_phase(proto::PHASE_COMPRESSION);
    c->set_steps(400);
    c->set_beta(1e-3f);
    c->set_learning_rate(2e-3f);
    proto::PhaseCommand* m = spec->add_phases();
    m->set_phase(proto::PHASE_MATCHING);
    m->set_steps(200);
    m->set_beta(1e-4f);
    m->set_learning_rate(1e-3f);
  }
  // Only when unset: an explicit 0 is an error Validate reports.
  if (!spec->has_batch_size()) spec->set_batch_size(256);
  if (spec->seed() == 0) spec->set_seed(20250124);
  if (!spec->has_num_servers()) spec->set_num_servers(2);
  if (!spec->has_num_workers()) spec->set_num_workers(2);
  if (!spec->has_max_missing_key_rate()) spec->set_max_missing_key_rate(0.9);
  if (spec->min_missing_key_lookups() == 0) spec->set_min_missing_key_lookups(10000);
  proto::TimeoutSpec* t = spec->mutable_timeouts();
  if (t->heartbeat_interval_ms() == 0) t->set_heartbeat_interval_ms(500);
  if (t->heartbeat_timeout_ms() == 0) t->set_heartbeat_timeout_ms(10000);
  if (t->startup_timeout_ms() == 0) t->set_startup_timeout_ms(120000);
  if (t->barrier_timeout_ms() == 0) t->set_barrier_timeout_ms(300000);
  if (t->collective_timeout_ms() == 0) t->set_collective_timeout_ms(60000);
  if (t->pull_timeout_ms() == 0) t->set_pull_timeout_ms(10000);
  proto::FrozenPrefixCacheSpec* cache = spec->mutable_frozen_prefix_cache();
  if (cache->memory_budget_mb() == 0) cache->set_memory_budget_mb(1024);
  proto::CheckpointSpec* checkpoint = spec->mutable_checkpoint();
  // checkpoint.directory stays empty = <output_dir>/checkpoints, resolved
  // where it is used, so that a later change of output_dir carries it along.
  if (checkpoint->every_n_steps() == 0) checkpoint->set_every_n_steps(100);
  if (checkpoint->keep_last() == 0) checkpoint->set_keep_last(3);
  // Fine-tuning method: IAK unless chosen; "plain" is IAK's worker with a
  // plain bottleneck adapter (no Gaussian, no KL).
  if (spec->method().empty()) spec->set_method("iak");
  if (spec->method() == "plain") iak->set_plain_adapter(true);
  if (spec->method() == "lora") {
    proto::LoraSpec* lora = spec->mutable_lora();
    if (lora->rank() == 0) lora->set_rank(4);
    if (lora->alpha() == 0) lora->set_alpha(static_cast<float>(lora->rank()));
  }
  // Elastic jobs (docs/elastic.md): membership between 1 and num_workers
  // unless set, a sync point every 10 global steps, 3 failed rounds retried
  // at one sync point before the job fails.
  if (spec->has_elastic() && spec->elastic().enabled()) {
    proto::ElasticSpec* elastic = spec->mutable_elastic();
    if (elastic->min_workers() == 0) elastic->set_min_workers(1);
    if (elastic->max_workers() == 0) elastic->set_max_workers(std::max(1, spec->num_workers()));
    if (elastic->sync_every_steps() == 0) elastic->set_sync_every_steps(10);
    if (elastic->max_failed_rounds() == 0) elastic->set_max_failed_rounds(3);
  }
  ApplyDomainPlanDefaults(spec);
}

namespace {

// Text fields that go into generated files a line each (the Slurm script,
// the Kubernetes manifests, the job state) or name paths: a line break in
// one would start another line of a shell script. Printable, on one line.
Status ValidateOneLineTexts(const proto::JobSpec& spec) {
  const proto::LauncherSpec& l = spec.launcher();
  std::vector<std::pair<std::string, const std::string*>> fields = {
      {"name", &spec.name()},
      {"model_dir", &spec.model_dir()},
      {"output_dir", &spec.output_dir()},
      {"launcher.kind", &l.kind()},
      {"launcher.hostfile", &l.hostfile()},
      {"launcher.advertise_host", &l.advertise_host()},
      {"launcher.slurm_partition", &l.slurm_partition()},
      {"launcher.slurm_time_limit", &l.slurm_time_limit()},
      {"launcher.image", &l.image()},
      {"launcher.k8s_namespace", &l.k8s_namespace()},
      {"launcher.iak_binary", &l.iak_binary()},
      {"launcher.k8s_volume_claim", &l.k8s_volume_claim()}};
  for (const std::string& arg : l.slurm_extra_args()) {
    fields.push_back({"launcher.slurm_extra_args", &arg});
  }
  for (const auto& [field, text] : fields) {
    for (const char c : *text) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        char code[8];
        std::snprintf(code, sizeof(code), "0x%02x", static_cast<unsigned char>(c));
        return Bad(field, "text with the control character " + std::string(code),
                   "printable text on one line (it goes into generated scripts and manifests)");
      }
    }
  }
  return Status::Ok();
}

// The data block: periods, the pre-training share and the splits.
Status ValidateData(const proto::DataSpec& data) {
  if (data.period_bounds_size() < 2) {
    return Bad("data.period_bounds", std::to_string(data.period_bounds_size()) + " entries",
               "need at least 2 increasing years");
  }
  for (int i = 1; i < data.period_bounds_size(); ++i) {
    if (data.period_bounds(i) <= data.period_bounds(i - 1)) {
      return Bad("data.period_bounds", std::to_string(data.period_bounds(i)),
                 "years must increase strictly");
    }
  }
  if (!(data.pretrain_random_share() >= 0 && data.pretrain_random_share() < 1)) {
    return Bad("data.pretrain_random_share", std::to_string(data.pretrain_random_share()),
               "a share in [0, 1) (0 = the first periods pre-train)");
  }
  const int periods = data.period_bounds_size() - 1;
  for (const std::string& genre : data.genre_domains()) {
    if (genre.empty()) return Bad("data.genre_domains", "\"\"", "name a genre of movies.csv");
  }
  if (data.pretrain_random_share() == 0 &&
      (data.pretrain_periods() < 1 || data.pretrain_periods() >= periods)) {
    return Bad("data.pretrain_periods", std::to_string(data.pretrain_periods()),
               "must be in [1, " + std::to_string(periods - 1) +
                   "] so at least one later period is fine-tuned");
  }
  if (!std::isfinite(data.train_fraction()) || !std::isfinite(data.validation_fraction()) ||
      data.train_fraction() <= 0 || data.validation_fraction() < 0 ||
      data.train_fraction() + data.validation_fraction() >= 1) {
    return Bad("data.train_fraction", std::to_string(data.train_fraction()),
               "train_fraction > 0 and train_fraction + validation_fraction < 1");
  }
  return Status::Ok();
}

// The elastic block, when elastic training is on.
Status ValidateElastic(const proto::JobSpec& spec) {
  if (!spec.elastic().enabled()) return Status::Ok();
  const proto::ElasticSpec& e = spec.elastic();
  if (e.min_workers() < 1 || e.min_workers() > spec.num_workers()) {
    return Bad("elastic.min_workers", std::to_string(e.min_workers()),
               "1..num_workers (" + std::to_string(spec.num_workers()) + ")");
  }
  if (e.max_workers() < spec.num_workers()) {
    return Bad("elastic.max_workers", std::to_string(e.max_workers()),
               ">= num_workers (" + std::to_string(spec.num_workers()) + ")");
  }
  if (e.sync_every_steps() < 1) {
    return Bad("elastic.sync_every_steps", std::to_string(e.sync_every_steps()), ">= 1");
  }
  if (e.max_failed_rounds() < 0) {
    return Bad("elastic.max_failed_rounds", std::to_string(e.max_failed_rounds()),
               ">= 1 (0 = 3)");
  }
  // Full fine-tuning pushes rows to servers that keep one overlay, whose
  // best point rank 0 snapshots: it needs a fixed group.
  if (spec.method() == "full") {
    return Bad("method", "\"full\"",
               "not with elastic.enabled (its rows live on the servers, trained by a fixed "
               "group): turn elastic off or choose another method");
  }
  return Status::Ok();
}

}  // namespace

Status Validate(const proto::JobSpec& spec) {
  IAK_RETURN_IF_ERROR(ValidateOneLineTexts(spec));
  if (spec.model_dir().empty()) {
    return Bad("model_dir", "\"\"", "set it to a directory written by `iak pretrain`");
  }
  IAK_RETURN_IF_ERROR(ValidateData(spec.data()));
  IAK_RETURN_IF_ERROR(ValidateAdapterShape(spec.iak()));
  IAK_RETURN_IF_ERROR(ValidatePhases(spec));
  IAK_RETURN_IF_ERROR(CheckIntRange("batch_size", spec.batch_size(), 1, kMaxBatchSize,
                                    " (leave it out for 256)"));
  IAK_RETURN_IF_ERROR(CheckIntRange("num_servers", spec.num_servers(), 1, kMaxNodes,
                                    " (leave it out for 2)"));
  if (spec.replicas_per_shard() < 0) {
    return Bad("replicas_per_shard", std::to_string(spec.replicas_per_shard()), ">= 1 (0 = 1)");
  }
  if (spec.pinned_rows_mb() < -1 || spec.pinned_rows_mb() > kMaxPinnedRowsMb) {
    return Bad("pinned_rows_mb", std::to_string(spec.pinned_rows_mb()),
               "-1 (off), 0 (256) or up to " + std::to_string(kMaxPinnedRowsMb));
  }
  if (spec.row_cache_bytes() < 0) {
    return Bad("row_cache_bytes", std::to_string(spec.row_cache_bytes()), ">= 0");
  }
  IAK_RETURN_IF_ERROR(CheckIntRange("num_workers", spec.num_workers(), 1, kMaxNodes,
                                    " (leave it out for 2)"));
  IAK_RETURN_IF_ERROR(CheckIntRange("metrics_port", spec.metrics_port(), 0, 65535,
                                    " (0 = no metrics server)"));
  IAK_RETURN_IF_ERROR(ValidateTimeouts(spec.timeouts()));
  IAK_RETURN_IF_ERROR(CheckRange("max_missing_key_rate", spec.max_missing_key_rate(), 0, false, 1,
                                 " (1 = never fail on keys absent from the snapshot)"));
  if (spec.min_missing_key_lookups() < 0) {
    return Bad("min_missing_key_lookups", std::to_string(spec.min_missing_key_lookups()),
               ">= 1 (0 = 10000)");
  }
  if (spec.has_trainable()) {
    IAK_RETURN_IF_ERROR(CheckRange("trainable.learning_rate", spec.trainable().learning_rate(), 0,
                                   false, kMaxLearningRate, " (0 = 0.02)"));
  }
  const proto::FrozenPrefixCacheSpec& cache = spec.frozen_prefix_cache();
  if (!proto::FrozenPrefixCacheSpec::Mode_IsValid(cache.mode())) {
    return Bad("frozen_prefix_cache.mode", std::to_string(cache.mode()),
               "MODE_AUTO, MODE_ON or MODE_OFF");
  }
  if (cache.memory_budget_mb() < 0) {
    return Bad("frozen_prefix_cache.memory_budget_mb", std::to_string(cache.memory_budget_mb()),
               ">= 0 (0 = 1024)");
  }
  if (spec.checkpoint().every_n_steps() < -1) {
    return Bad("checkpoint.every_n_steps", std::to_string(spec.checkpoint().every_n_steps()),
               ">= 1, or -1 for checkpoints only at phase ends (0 = 100)");
  }
  if (spec.checkpoint().keep_last() < 0) {
    return Bad("checkpoint.keep_last", std::to_string(spec.checkpoint().keep_last()),
               ">= 1 (0 = 3)");
  }
  IAK_RETURN_IF_ERROR(ValidateElastic(spec));
  IAK_RETURN_IF_ERROR(ValidateMethod(spec));
  IAK_RETURN_IF_ERROR(ValidateTrainedWithAdapter(spec, "iak.new_key_rows",
                                                 spec.iak().new_key_rows().enabled()));
  IAK_RETURN_IF_ERROR(ValidateKeyBiases(spec));
  if (spec.method() == "lora") {
    IAK_RETURN_IF_ERROR(CheckIntRange("lora.rank", spec.lora().rank(), 1, kMaxAdapterWidth));
    IAK_RETURN_IF_ERROR(CheckRange("lora.alpha", spec.lora().alpha(), 0, true, 1e6));
  }
  if (!spec.frozen_precision().empty() && spec.frozen_precision() != "fp32" &&
      spec.frozen_precision() != "bf16") {
    return InvalidArgumentError("job spec field 'frozen_precision' = \"" +
                                spec.frozen_precision() + "\": choose \"fp32\" or \"bf16\"");
  }
  IAK_RETURN_IF_ERROR(ValidateDomainPlan(spec));
  return CheckIntRange("compute_threads", spec.compute_threads(), 0, 256);
}

StatusOr<proto::JobSpec> LoadJobSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open job spec " + path);
  std::stringstream text;
  text << in.rdbuf();
  proto::JobSpec spec;
  proto::FirstTextFormatError error;
  if (!proto::ParseTextFormat(text.str(), &spec, &error)) {
    const std::string where = error.has_error() ? "line " + std::to_string(error.line()) +
                                                      ", column " + std::to_string(error.column()) +
                                                      ": " + error.message()
                                                : "";
    return InvalidArgumentError(path + ": " + where + " (see docs/job_spec.md for the fields)");
  }
  ApplyDefaults(&spec);
  IAK_RETURN_IF_ERROR(Validate(spec).WithContext(path));
  return spec;
}

Status SaveJobSpec(const proto::JobSpec& spec, const std::string& path) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(spec, &text)) {
    return InternalError("cannot print job spec");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return IoError("cannot write " + tmp);
    out << text;
    if (!out.flush()) return IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot rename " + tmp + " to " + path);
  }
  return Status::Ok();
}

uint64_t PinnedRowsBudgetBytes(const proto::JobSpec& spec) {
  if (spec.method() == "full" || spec.pinned_rows_mb() < 0) return 0;
  const int64_t mb = spec.pinned_rows_mb() == 0 ? kDefaultPinnedRowsMb : spec.pinned_rows_mb();
  return static_cast<uint64_t>(mb) << 20;
}

}  // namespace iak::job
