// `iak compare`: every fine-tuning method on the same MovieLens periods, one
// process, embeddings read locally; writes docs/results.md and a JSON file.
//
//   iak compare [--compare_model_dir=DIR] [--compare_methods=frozen,full,...]
//
// Without --compare_model_dir it pre-trains the base first (like `iak demo`)
// into <compare_run_dir>/model, with --compare_key_dropout if given.
#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/compare_flags.h"
#include "data/synth.h"
#include "job/job_spec.h"
#include "compare/method_comparison.h"
#include "worker/pretrain_job.h"

DEFINE_string(compare_run_dir, "runs/compare", "where `iak compare` pre-trains its base model");
DEFINE_string(compare_data_dir, "datasets/ml-latest-small", "MovieLens directory");
DEFINE_string(compare_model_dir, "",
              "an existing model directory to compare on (default: pre-train a fresh one)");
DEFINE_string(compare_methods, "frozen,full,dense,lora,plain,iak,iak_rows",
              "comma-separated methods: frozen, full, dense, lora, plain, iak");
DEFINE_int32(compare_epochs, 8, "training epochs per domain and method");
DEFINE_int32(compare_batch_size, 256, "samples per step");
DEFINE_int32(compare_lora_rank, 4, "LoRA rank r");
DEFINE_int32(compare_latent_dim, 8, "latent size of the plain adapter and IAK");
DEFINE_string(compare_iak_insertion, "h",
              "where IAK's adapter sits (iak.insertion of a job): h = the bottom MLP's output, x = "
              "the pooled embedding input, before the frozen bottom, tower = the CTR tower's "
              "first hidden layer");
DEFINE_double(compare_rows_lr, 0, "iak_rows: learning rate of the new-key rows (0 = default)");
DEFINE_string(compare_rows_optimizer, "adagrad", "iak_rows: adagrad or adam");
DEFINE_string(compare_rows_init, "zero", "iak_rows: start of a new-key row, zero or mean");
DEFINE_int32(compare_rows_min_count, 1,
             "iak_rows: keys seen in fewer training samples get no row");
DEFINE_int32(compare_rows_max, 0, "iak_rows: at most this many rows per unit (0 = no cap)");
DEFINE_double(compare_adapter_lr, 2e-3, "Adam learning rate of the plain adapter and IAK");
DEFINE_double(compare_dense_lr, 1e-3, "Adam learning rate of dense-only, full FT and LoRA");
DEFINE_double(compare_embedding_lr, 0.02, "Adagrad learning rate of full FT's rows");
DEFINE_double(compare_beta_c, 1e-3, "IAK KL weight in compression");
DEFINE_double(compare_beta_m, 1e-4, "IAK KL weight in matching");
DEFINE_double(compare_compression_fraction, 2.0 / 3.0, "IAK: share of epochs in compression");
DEFINE_double(compare_key_dropout, 0.0,
              "key dropout (user, movie) when pre-training the base here (0 = off)");
DEFINE_int32(compare_pretrain_epochs, 3, "pre-training epochs of the base model");
DEFINE_uint64(compare_seed, 1, "seed of the pre-training and of every method's init and shuffling");
DEFINE_string(compare_dropout_sweep, "",
              "also pre-train with each of these key-dropout rates (e.g. 0,0.1,0.3) for each "
              "seed of --compare_sweep_seeds and report frozen/IAK validation and test AUC; the "
              "validation AUC decides");
DEFINE_string(compare_sweep_seeds, "1,2,3,4,5", "pre-training seeds of the key-dropout sweep");
DEFINE_bool(compare_iak_grid, false,
            "also try IAK settings (learning rate x latent size x beta_c x compression share) "
            "on the last base model; the validation AUC picks the best");
DEFINE_bool(compare_movielens, true, "compare on the MovieLens periods");
DEFINE_bool(compare_synth, false,
            "also compare on synthetic data: `iak data synth` with skewed domain sizes -> "
            "pre-train a two-task (CTR + CVR) base on the first domains -> every method on the "
            "later ones, plus fixed vs dynamic batches for the adapters");
DEFINE_bool(compare_all, false,
            "everything docs/results.md holds: MovieLens, the synthetic data, the IAK grid");
DEFINE_int64(compare_synth_samples, 300000, "synthetic samples");
DEFINE_int64(compare_synth_keys, 20000, "synthetic user + item ids");
DEFINE_int32(compare_synth_domains, 12, "synthetic domains");
DEFINE_double(compare_synth_skew, 3.0,
              "synthetic domain sizes ~ 1/(d+1)^skew (the tail domains are deliberately small)");
DEFINE_int32(compare_synth_pretrain_domains, 1, "the first N synthetic domains pre-train the base");
DEFINE_string(compare_synth_seeds, "1,2,3",
              "method seeds of the fixed-vs-dynamic batch comparison (means are shown)");
DEFINE_bool(compare_dynamic_batches, true,
            "plain adapter and IAK: per-domain batch and lr from the sample count "
            "(worker/domain_plan.h)");
DEFINE_int32(compare_min_batch, 16,
             "dynamic batches: the smallest per-domain batch (16: picked on validation, "
             "docs/results.md)");
DEFINE_string(compare_batch_reference, "largest",
              "dynamic batches: n_ref of batch_d = B sqrt(n_d / n_ref): median or largest");
DEFINE_int64(compare_cold_min_train, 200,
             "a domain with fewer training samples gets no adapter of its own");
DEFINE_int64(compare_cold_min_val_positives, 10,
             "a domain with fewer validation positives gets no adapter of its own");
DEFINE_int32(compare_network_workers, 2, "N of the computed network bytes per epoch");
DEFINE_string(compare_markdown, "",
              "markdown results written here (default: <compare_run_dir>/results.md, or "
              "<output_dir>/compare/results.md with --job; `make results` writes docs/results.md)");
DEFINE_string(compare_json, "", "JSON results written here (default: next to the markdown)");

namespace iak::cli {
namespace {

// Pre-training of a base model into `model_dir` (overwritten) for
// --compare_pretrain_epochs epochs.
worker::PretrainJobOptions PretrainOptions(const proto::DataSpec& data,
                                           const std::string& model_dir, double key_dropout,
                                           uint64_t seed) {
  worker::PretrainJobOptions pretrain;
  pretrain.data = data;
  pretrain.model_dir = model_dir;
  pretrain.overwrite = true;
  pretrain.train.epochs = FLAGS_compare_pretrain_epochs;
  pretrain.train.key_dropout = static_cast<float>(key_dropout);
  pretrain.train.seed = seed;
  return pretrain;
}

StatusOr<std::vector<compare::Method>> ParseMethods(const std::string& list) {
  std::vector<compare::Method> methods;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (name.empty()) continue;
    IAK_ASSIGN_OR_RETURN(compare::Method m, compare::ParseMethod(name));
    methods.push_back(m);
  }
  if (methods.empty()) return InvalidArgumentError("--compare_methods names no method");
  return methods;
}

std::vector<double> ParseNumbers(const std::string& list) {
  std::vector<double> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::stod(item));
  }
  return out;
}

struct SweepRow {
  double rate = 0;
  double frozen_val = 0, iak_val = 0, frozen_test = 0, iak_test = 0;
  int seeds = 0;
};

// Pre-trains with each dropout rate and seed, runs frozen + IAK, and returns
// the markdown section (the validation AUC of IAK decides).
struct SweepResult {
  std::string markdown;
  std::string json;
  double chosen_rate = 0;
};

StatusOr<SweepResult> DropoutSweep(const proto::JobSpec& spec,
                                   const compare::ComparisonOptions& base_options) {
  std::vector<double> rates, seeds;
  try {
    rates = ParseNumbers(FLAGS_compare_dropout_sweep);
    seeds = ParseNumbers(FLAGS_compare_sweep_seeds);
  } catch (const std::exception&) {
    return InvalidArgumentError(
        "--compare_dropout_sweep and --compare_sweep_seeds take comma-separated numbers");
  }
  if (rates.empty() || seeds.empty()) {
    return InvalidArgumentError("the key-dropout sweep needs rates and seeds");
  }
  std::vector<SweepRow> rows;
  for (double rate : rates) {
    SweepRow row;
    row.rate = rate;
    for (double seed : seeds) {
      const worker::PretrainJobOptions pretrain = PretrainOptions(
          spec.data(), FLAGS_compare_run_dir + "/sweep_model", rate, static_cast<uint64_t>(seed));
      IAK_ASSIGN_OR_RETURN(worker::PretrainJobResult pretrained, worker::RunPretrainJob(pretrain));
      (void)pretrained;
      compare::ComparisonOptions options = base_options;
      options.methods = {compare::Method::kFrozen, compare::Method::kIak};
      options.seed = static_cast<uint64_t>(seed);
      IAK_ASSIGN_OR_RETURN(compare::MethodReport report,
                           compare::RunComparisonOnModelDir(spec.data(), pretrain.model_dir, options));
      for (const compare::MethodSummary& s : report.Summaries()) {
        const bool frozen = s.method == "frozen";
        (frozen ? row.frozen_val : row.iak_val) += s.mean_validation_auc;
        (frozen ? row.frozen_test : row.iak_test) += s.mean_test_auc;
      }
      ++row.seeds;
      std::cerr << "sweep: key dropout " << rate << ", seed " << seed << " done\n";
    }
    row.frozen_val /= row.seeds;
    row.iak_val /= row.seeds;
    row.frozen_test /= row.seeds;
    row.iak_test /= row.seeds;
    rows.push_back(row);
  }
  size_t best = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].iak_val > rows[best].iak_val) best = i;
  }
  std::ostringstream out;
  char line[256];
  out << "\n## Key-dropout sweep (the validation split chooses the rate)\n\n"
      << "Mean over the 4 domains and over pre-training seeds " << FLAGS_compare_sweep_seeds
      << " (each seed also seeds IAK). Validation decides; test is shown, never used.\n\n"
      << "| key dropout | frozen val. AUC | IAK val. AUC | frozen test AUC | IAK test AUC |\n"
      << "|---|---|---|---|---|\n";
  for (const SweepRow& r : rows) {
    std::snprintf(line, sizeof(line), "| %.2f | %.4f | %.4f | %.4f | %.4f |\n", r.rate,
                  r.frozen_val, r.iak_val, r.frozen_test, r.iak_test);
    out << line;
  }
  std::snprintf(line, sizeof(line),
                "\nBest by IAK validation AUC: key dropout %.2f (%+.4f IAK validation AUC vs the "
                "first rate listed).\n",
                rows[best].rate, rows[best].iak_val - rows.front().iak_val);
  out << line;
  std::ostringstream json;
  json << "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const SweepRow& r = rows[i];
    std::snprintf(line, sizeof(line),
                  "%s{\"key_dropout\": %.4f, \"seeds\": %d, \"frozen_validation_auc\": %.6f, "
                  "\"iak_validation_auc\": %.6f, \"frozen_test_auc\": %.6f, "
                  "\"iak_test_auc\": %.6f}",
                  i == 0 ? "" : ", ", r.rate, r.seeds, r.frozen_val, r.iak_val, r.frozen_test,
                  r.iak_test);
    json << line;
  }
  json << "]";
  return SweepResult{out.str(), json.str(), rows[best].rate};
}

// The W3 bar (docs BENCHMARKS.md) read off the numbers.
std::string W3Verdict(const compare::MethodReport& report) {
  const compare::MethodSummary* iak = nullptr;
  const compare::MethodSummary* full = nullptr;
  std::vector<compare::MethodSummary> summaries = report.Summaries();
  int domains = 0;
  for (const compare::MethodDomainResult& r : report.results) domains += r.method == "frozen";
  for (const compare::MethodSummary& s : summaries) {
    if (s.method == "iak") iak = &s;
    if (s.method == "full") full = &s;
  }
  if (iak == nullptr || full == nullptr || domains == 0) return "";
  const double time_ratio = full->seconds_per_epoch / std::max(iak->seconds_per_epoch, 1e-9);
  const double size_ratio = static_cast<double>(full->checkpoint_bytes) /
                            std::max<int64_t>(iak->checkpoint_bytes, 1);
  const bool every = iak->domains_above_frozen == domains;
  const bool matches = iak->mean_test_auc >= full->mean_test_auc;
  char line[512];
  std::snprintf(line, sizeof(line),
                "\n### W3 bar, read off the table\n\n"
                "- IAK above the frozen base on %d of %d domains (bar: all): %s\n"
                "- IAK mean test AUC %.4f vs full fine-tuning %.4f (bar: at least equal): %s\n"
                "- full fine-tuning / IAK wall time per epoch: %.2fx (bar: >= 3x): %s\n"
                "- full fine-tuning / IAK checkpoint size: %.1fx (bar: >= 100x): %s\n",
                iak->domains_above_frozen, domains, every ? "met" : "NOT met",
                iak->mean_test_auc, full->mean_test_auc, matches ? "met" : "NOT met", time_ratio,
                time_ratio >= 3 ? "met" : "NOT met", size_ratio,
                size_ratio >= 100 ? "met" : "NOT met");
  return line;
}

// IAK alone over a small grid of settings on `model_dir`; markdown section.
StatusOr<std::string> IakGrid(const proto::JobSpec& spec, const std::string& model_dir,
                              const compare::ComparisonOptions& base_options) {
  std::ostringstream out;
  out << "\n## What we tried for IAK on MovieLens (validation picks; test shown, never used)\n\n"
      << "Grid: adapter lr x latent size x beta_c (compression) x beta_m (matching) x "
         "compression share of the epochs (phase lengths), on the base of the table above, "
         "with the batch plan above. Insertion point: this grid keeps the adapter on h (the bottom "
         "MLP's output); the adapter on the pooled input x and on the CTR tower's hidden layer "
         "(--compare_iak_insertion=x|tower) were tried separately (docs/results_insertion.md). \"val. > "
         "frozen\" counts the domains where IAK's best validation AUC beats the frozen base's "
         "(the criterion one may select on); \"test > frozen\" is the W3 count.\n\n"
      << "| adapter lr | latent | beta_c | beta_m | compression share | mean val. AUC | "
         "val. > frozen | mean test AUC | test > frozen |\n"
         "|---|---|---|---|---|---|---|---|---|\n";
  double best_val = -1;
  std::string best, best_every;
  double best_every_val = -1;
  char line[256];
  for (float lr : {2e-3f, 5e-3f, 1e-2f}) {
    for (int latent : {8, 32}) {
      for (float beta : {1e-3f, 1e-2f}) {
        for (float beta_m : {1e-4f, 1e-3f}) {
          for (double share : {2.0 / 3.0, 1.0 / 3.0}) {
            compare::ComparisonOptions o = base_options;
            o.methods = {compare::Method::kFrozen, compare::Method::kIak};
            o.adapter_lr = lr;
            o.latent_dim = latent;
            o.beta_compression = beta;
            o.beta_matching = beta_m;
            o.compression_fraction = share;
            IAK_ASSIGN_OR_RETURN(compare::MethodReport report,
                                 compare::RunComparisonOnModelDir(spec.data(), model_dir, o));
            const compare::MethodSummary iak = report.Summaries().back();
            std::map<std::string, double> frozen_val;
            int val_above = 0, domains = 0;
            for (const compare::MethodDomainResult& r : report.results) {
              if (r.method == "frozen") frozen_val[r.domain] = r.validation_auc;
            }
            for (const compare::MethodDomainResult& r : report.results) {
              if (r.method != "iak") continue;
              ++domains;
              val_above += r.validation_auc > frozen_val[r.domain];
            }
            std::snprintf(line, sizeof(line),
                          "| %.0e | %d | %.0e | %.0e | %.2f | %.4f | %d/%d | %.4f | %d/%d |\n", lr,
                          latent, beta, beta_m, share, iak.mean_validation_auc, val_above,
                          domains, iak.mean_test_auc, iak.domains_above_frozen, domains);
            out << line;
            if (iak.mean_validation_auc > best_val) {
              best_val = iak.mean_validation_auc;
              best = line;
            }
            if (val_above == domains && iak.mean_validation_auc > best_every_val) {
              best_every_val = iak.mean_validation_auc;
              best_every = line;
            }
          }
        }
      }
    }
  }
  out << "\nBest by mean validation AUC: " << best
      << "\nBest among the settings above frozen on every domain's validation split: "
      << (best_every.empty() ? std::string("none of them is\n") : best_every);
  return out.str();
}

struct Section {
  std::string markdown;
  std::string json;
};

// Per (setting, method, domain): validation and test CTR-AUC, summed over seeds.
struct BatchCell {
  double val = 0, test = 0;
  int n = 0;
  int batch = 0;
  int64_t train = 0;
  bool mode_shared_or_base = false;
};

// One batch setting of the fixed-vs-dynamic experiment.
struct BatchSetting {
  std::string name;
  bool dynamic;
  worker::BatchReference reference;
  int min_batch;
};

// What the experiment measured: cells keyed "setting|method|domain", and the
// domains in report order.
struct BatchCells {
  std::vector<std::string> domains;
  std::map<std::string, BatchCell> cells;
  BatchCell& at(const std::string& setting, const std::string& method, const std::string& d) {
    return cells[setting + "|" + method + "|" + d];
  }
};

// The plain adapter and IAK under each setting and seed.
StatusOr<BatchCells> RunBatchSettings(const proto::DataSpec& data, const std::string& model_dir,
                                      const compare::ComparisonOptions& base_options,
                                      const std::vector<BatchSetting>& settings,
                                      const std::vector<double>& seeds) {
  BatchCells result;
  for (const BatchSetting& setting : settings) {
    for (double seed : seeds) {
      compare::ComparisonOptions o = base_options;
      o.methods = {compare::Method::kPlain, compare::Method::kIak};
      o.dynamic_batches = setting.dynamic;
      o.plan.min_batch = setting.min_batch;
      o.plan.reference = setting.reference;
      o.seed = static_cast<uint64_t>(seed);
      IAK_ASSIGN_OR_RETURN(compare::MethodReport report,
                           compare::RunComparisonOnModelDir(data, model_dir, o));
      for (const compare::MethodDomainResult& r : report.results) {
        if (std::find(result.domains.begin(), result.domains.end(), r.domain) ==
            result.domains.end()) {
          result.domains.push_back(r.domain);
        }
        BatchCell& c = result.at(setting.name, r.method, r.domain);
        c.val += r.validation_auc;
        c.test += r.test_auc;
        c.batch = r.batch_size;
        c.train = r.train_samples;
        c.mode_shared_or_base = r.mode != "own";
        ++c.n;
      }
      std::cerr << "fixed vs dynamic: " << setting.name << ", seed " << seed << " done\n";
    }
  }
  return result;
}

// Small domains: own adapter, fewer training samples than the median one.
std::vector<std::string> SmallDomains(BatchCells* cells) {
  std::vector<int64_t> own_counts;
  for (const std::string& d : cells->domains) {
    const BatchCell& c = cells->at("fixed", "iak", d);
    if (!c.mode_shared_or_base) own_counts.push_back(c.train);
  }
  std::sort(own_counts.begin(), own_counts.end());
  std::vector<std::string> small;
  for (const std::string& d : cells->domains) {
    const BatchCell& c = cells->at("fixed", "iak", d);
    if (!c.mode_shared_or_base && !own_counts.empty() &&
        c.train < own_counts[own_counts.size() / 2]) {
      small.push_back(d);
    }
  }
  return small;
}

// Fixed vs dynamic per-domain batches for the plain adapter and IAK on the
// job of `spec`; settings are chosen by the mean validation AUC of the
// domains whose dynamic batch is below the base batch ("small" domains).
StatusOr<std::string> FixedVsDynamic(const proto::DataSpec& data, const std::string& model_dir,
                                     const compare::ComparisonOptions& base_options) {
  std::vector<double> seeds;
  try {
    seeds = ParseNumbers(FLAGS_compare_synth_seeds);
  } catch (const std::exception&) {
    return InvalidArgumentError("--compare_synth_seeds takes comma-separated numbers");
  }
  if (seeds.empty()) return InvalidArgumentError("--compare_synth_seeds names no seed");
  const std::vector<BatchSetting> settings{
      {"fixed", false, worker::BatchReference::kMedian, base_options.batch_size},
      {"median, B_min=32", true, worker::BatchReference::kMedian, 32},
      {"largest, B_min=32", true, worker::BatchReference::kLargest, 32},
      {"largest, B_min=16", true, worker::BatchReference::kLargest, 16}};
  IAK_ASSIGN_OR_RETURN(BatchCells measured,
                       RunBatchSettings(data, model_dir, base_options, settings, seeds));
  const std::vector<std::string> small = SmallDomains(&measured);
  const std::vector<std::string>& domains = measured.domains;
  auto cell = [&measured](const std::string& setting, const std::string& method,
                          const std::string& d) -> const BatchCell& {
    return measured.at(setting, method, d);
  };
  std::ostringstream out;
  char line[256];
  out << "\n### Fixed vs dynamic per-domain batches (plain adapter and IAK)\n\n"
      << "Means over method seeds " << FLAGS_compare_synth_seeds
      << ". Fixed: every domain batch " << base_options.batch_size
      << " and the method's lr. Dynamic: batch_d = clamp(round(B sqrt(n_d / n_ref)), B_min, "
         "B), lr_d = lr sqrt(batch_d / B) with n_ref the median or the largest domain "
         "(worker/domain_plan.h). Small domains = the own-adapter domains below the median "
         "training count: "
      << (small.empty() ? std::string("none") : "") ;
  for (size_t i = 0; i < small.size(); ++i) out << (i ? ", " : "") << small[i];
  out << ". Cold domains use the same fallback in every setting.\n\n"
      << "| setting | method | mean val. AUC, small domains | mean test AUC, small domains | "
         "mean test AUC, all domains |\n|---|---|---|---|---|\n";
  std::map<std::string, double> small_val;
  for (const BatchSetting& setting : settings) {
    for (const char* method : {"plain", "iak"}) {
      double sv = 0, st = 0, at = 0;
      for (const std::string& d : small) {
        const BatchCell& c = cell(setting.name, method, d);
        sv += c.val / c.n;
        st += c.test / c.n;
      }
      for (const std::string& d : domains) {
        const BatchCell& c = cell(setting.name, method, d);
        at += c.test / c.n;
      }
      const double k = std::max<size_t>(small.size(), 1);
      small_val[setting.name + "|" + method] = sv / k;
      std::snprintf(line, sizeof(line), "| %s | %s | %.4f | %.4f | %.4f |\n",
                    setting.name.c_str(), method, sv / k, st / k, at / domains.size());
      out << line;
    }
  }
  for (const char* method : {"plain", "iak"}) {
    std::string best = settings.front().name;
    for (const BatchSetting& s : settings) {
      if (small_val[s.name + "|" + method] > small_val[best + "|" + method]) best = s.name;
    }
    out << "\nValidation picks for " << method << ": " << best << ".";
  }
  std::string both = settings.front().name;
  auto mean2 = [&](const std::string& n) {
    return (small_val[n + "|plain"] + small_val[n + "|iak"]) / 2;
  };
  for (const BatchSetting& s : settings) {
    if (mean2(s.name) > mean2(both)) both = s.name;
  }
  out << "\nValidation picks for both (mean of the two methods' small-domain validation AUC): "
      << both << ". The tables above use --compare_batch_reference="
      << FLAGS_compare_batch_reference << " --compare_min_batch=" << FLAGS_compare_min_batch
      << ".";
  out << "\n\nPer small domain (validation / test CTR-AUC, mean over seeds; batch in "
         "brackets):\n\n"
      << "| method | domain | train samples |";
  for (const BatchSetting& s : settings) out << " " << s.name << " |";
  out << "\n|---|---|---|";
  for (size_t i = 0; i < settings.size(); ++i) out << "---|";
  out << "\n";
  for (const char* method : {"plain", "iak"}) {
    for (const std::string& d : small) {
      out << "| " << method << " | " << d << " | " << cell("fixed", "iak", d).train << " |";
      for (const BatchSetting& s : settings) {
        const BatchCell& c = cell(s.name, method, d);
        std::snprintf(line, sizeof(line), " %.4f / %.4f (%d) |", c.val / c.n, c.test / c.n,
                      c.batch);
        out << line;
      }
      out << "\n";
    }
  }
  return out.str();
}

// `iak data synth` -> pre-train a two-task base on the first domains -> every
// method on the later ones, then fixed vs dynamic batches.
StatusOr<Section> SynthSection(const compare::ComparisonOptions& options) {
  const std::string dir = FLAGS_compare_run_dir + "/synth";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("compare: cannot create " + dir + ": " + ec.message());
  data::SynthOptions so;
  so.out = dir + "/synth.csv";
  so.samples = FLAGS_compare_synth_samples;
  so.keys = FLAGS_compare_synth_keys;
  so.domains = FLAGS_compare_synth_domains;
  so.seed = FLAGS_compare_seed;
  so.domain_size_skew = FLAGS_compare_synth_skew;
  std::cerr << "writing synthetic data -> " << so.out << "\n";
  IAK_ASSIGN_OR_RETURN(data::SynthReport synth, data::WriteSynthData(so));
  proto::JobSpec spec;
  spec.mutable_data()->set_schema_file(
      std::filesystem::absolute("examples/synth.schema.pbtxt").string());
  spec.mutable_data()->add_input_files(std::filesystem::absolute(so.out).string());
  spec.mutable_data()->set_pretrain_periods(FLAGS_compare_synth_pretrain_domains);
  job::ApplyDefaults(&spec);
  worker::PretrainJobOptions pretrain =
      PretrainOptions(spec.data(), dir + "/model", FLAGS_compare_key_dropout, FLAGS_compare_seed);
  pretrain.num_tasks = 2;
  std::cerr << "pre-training the synthetic base (CTR + CVR) -> " << pretrain.model_dir << "\n";
  IAK_ASSIGN_OR_RETURN(worker::PretrainJobResult pretrained, worker::RunPretrainJob(pretrain));
  const auto start = std::chrono::steady_clock::now();
  IAK_ASSIGN_OR_RETURN(compare::MethodReport report,
                       compare::RunComparisonOnModelDir(spec.data(), pretrain.model_dir, options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream md;
  md << "\n## Synthetic multi-domain data (click + conversion)\n\n"
     << "`iak data synth --samples=" << so.samples << " --keys=" << so.keys
     << " --domains=" << so.domains << " --seed=" << so.seed
     << " --domain_size_skew=" << so.domain_size_skew
     << "` (docs/data.md: each domain has its own click/conversion bias and its own preference "
        "shift over item categories, a function of the category field the adapter sees "
        "through h). Domain sizes:";
  for (const data::SynthDomainStats& d : synth.domains) md << " " << d.name << " " << d.samples;
  md << ". The base (ESMM: CTR and CVR towers) is pre-trained on the first "
     << FLAGS_compare_synth_pretrain_domains << " domain(s) (" << pretrained.samples
     << " samples, " << FLAGS_compare_pretrain_epochs
     << " epochs, key dropout " << FLAGS_compare_key_dropout
     << "); every method is then trained per later domain (comparison "
     << static_cast<int>(seconds) << " s).\n\n"
     << report.ToMarkdown() << W3Verdict(report);
  IAK_ASSIGN_OR_RETURN(std::string batches,
                       FixedVsDynamic(spec.data(), pretrain.model_dir, options));
  md << batches;
  return Section{md.str(), report.ToJson()};
}

std::string CommandLine(int argc, char** argv) {
  std::string line = "iak compare";
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  for (const auto& f : flags) {
    if (f.name.rfind("compare_", 0) == 0 && !f.is_default) {
      line += " --" + f.name + "=" + f.current_value;
    }
  }
  (void)argc;
  (void)argv;
  return line;
}

// The comparison's options from the --compare_* flags.
StatusOr<compare::ComparisonOptions> OptionsFromFlags(const std::vector<compare::Method>& methods) {
  compare::ComparisonOptions options;
  options.methods = methods;
  options.epochs = FLAGS_compare_epochs;
  options.batch_size = FLAGS_compare_batch_size;
  options.lora.rank = FLAGS_compare_lora_rank;
  options.lora.alpha = static_cast<float>(FLAGS_compare_lora_rank);
  options.latent_dim = FLAGS_compare_latent_dim;
  options.seed = FLAGS_compare_seed;
  options.adapter_lr = static_cast<float>(FLAGS_compare_adapter_lr);
  options.dense_lr = static_cast<float>(FLAGS_compare_dense_lr);
  options.embedding_lr = static_cast<float>(FLAGS_compare_embedding_lr);
  options.beta_compression = static_cast<float>(FLAGS_compare_beta_c);
  options.beta_matching = static_cast<float>(FLAGS_compare_beta_m);
  options.compression_fraction = FLAGS_compare_compression_fraction;
  options.dynamic_batches = FLAGS_compare_dynamic_batches;
  options.plan.min_batch = FLAGS_compare_min_batch;
  if (FLAGS_compare_batch_reference != "median" && FLAGS_compare_batch_reference != "largest") {
    return InvalidArgumentError("--compare_batch_reference must be median or largest, not '" +
                                FLAGS_compare_batch_reference + "'");
  }
  options.plan.reference = FLAGS_compare_batch_reference == "largest"
                               ? worker::BatchReference::kLargest
                               : worker::BatchReference::kMedian;
  options.plan.min_train_samples = FLAGS_compare_cold_min_train;
  options.plan.min_validation_positives = FLAGS_compare_cold_min_val_positives;
  options.network_workers = FLAGS_compare_network_workers;
  StatusOr<worker::AdapterInsertion> insertion =
      worker::ParseAdapterInsertion(FLAGS_compare_iak_insertion);
  if (!insertion.ok()) return insertion.status().WithContext("--compare_iak_insertion");
  options.iak_insertion = *insertion;
  options.new_key_rows.set_learning_rate(static_cast<float>(FLAGS_compare_rows_lr));
  options.new_key_rows.set_init(FLAGS_compare_rows_init);
  options.new_key_rows.set_optimizer(FLAGS_compare_rows_optimizer);
  options.new_key_rows.set_min_count(FLAGS_compare_rows_min_count);
  options.new_key_rows.set_max_rows(FLAGS_compare_rows_max);
  return options;
}

// What RunCompare writes: results.md, results.json, and the tables it prints.
struct Report {
  std::ostringstream md, json, out;
};

std::string ResultsPreamble(int argc, char** argv, const compare::ComparisonOptions& options) {
  std::ostringstream md;
  md << "# Results: fine-tuning methods on the same data\n\n"
     << "Generated by `" << CommandLine(argc, argv) << "` (`make results` runs "
        "tools/make_results.sh, which calls it).\n\n"
     << "Every method trains one model per domain for the same number of epochs with the same "
        "seed, single process, embeddings read locally from the model directory; each domain's "
        "samples are split by time into train / validation / test. The test AUC reported is "
        "the one of the epoch with the best validation AUC; the test split chooses nothing. "
        "Full FT, dense-only and LoRA use one batch size for every domain; the plain adapter "
        "and IAK use per-domain batches and learning rates (worker/domain_plan.h: batch_d = "
        "clamp(round(B sqrt(n_d / n_ref)), B_min, B), lr_d = lr sqrt(batch_d / B); n_ref = the "
     << FLAGS_compare_batch_reference << " training count of the domains with their own adapter, B = "
     << options.batch_size << ", B_min = " << options.plan.min_batch
     << "; a domain with fewer than " << options.plan.min_train_samples
     << " training samples or " << options.plan.min_validation_positives
     << " validation positives falls back to a shared adapter of the cold domains or the base "
        "model). The plain adapter and IAK keep h of the frozen bottom per training sample after "
        "their first epoch (the frozen-prefix cache, exact since everything below the adapter "
        "is frozen), so their later epochs skip pooling and the bottom MLP (and, on a cluster, "
        "the pulls); full FT, dense-only and LoRA change what is below h and cannot. Wall time "
        "is measured on this machine (2 cores shared with other work, so expect +-30% between "
        "runs); network bytes are computed from the batches, not measured.\n";
  return md.str();
}

// Every method on MovieLens, once per key-dropout rate of the base (each
// rate pre-trains a base unless --compare_model_dir names one).
Status CompareOnMovieLens(const proto::JobSpec& spec, const compare::ComparisonOptions& options,
                          const std::vector<double>& rates, Report* report) {
  for (size_t i = 0; i < rates.size(); ++i) {
    std::string model_dir = FLAGS_compare_model_dir;
    std::ostringstream note;
    if (model_dir.empty()) {
      model_dir = FLAGS_compare_run_dir + "/model";
      const worker::PretrainJobOptions pretrain =
          PretrainOptions(spec.data(), model_dir, rates[i], FLAGS_compare_seed);
      std::cerr << "pre-training the base model (key dropout " << rates[i] << ") -> "
                << model_dir << "\n";
      IAK_ASSIGN_OR_RETURN(worker::PretrainJobResult pretrained, worker::RunPretrainJob(pretrain));
      note << "base pre-trained on " << pretrained.samples << " ratings of the first period, "
           << FLAGS_compare_pretrain_epochs << " epochs, seed " << FLAGS_compare_seed
           << ", key dropout " << rates[i];
    } else {
      note << "model directory " << model_dir;
    }
    const auto start = std::chrono::steady_clock::now();
    IAK_ASSIGN_OR_RETURN(compare::MethodReport compared,
                         compare::RunComparisonOnModelDir(spec.data(), model_dir, options));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string title = "All methods";
    if (rates.size() > 1) {
      title = i == 0 ? "Before: all methods, base without the chosen key dropout"
                     : "After: all methods, base with the key dropout chosen on validation";
    }
    report->md << "\n## " << title << "\n\n(" << note.str() << "; comparison "
               << static_cast<int>(seconds) << " s)\n\n"
               << compared.ToMarkdown() << W3Verdict(compared);
    report->out << compared.ToMarkdown();
    report->json << "{\"key_dropout\": " << rates[i] << ", \"report\": " << compared.ToJson()
                 << "}" << (i + 1 < rates.size() ? "," : "") << "\n";
  }
  return Status::Ok();
}

void WriteReport(const Report& report) {
  const std::string md_path =
      FLAGS_compare_markdown.empty() ? FLAGS_compare_run_dir + "/results.md" : FLAGS_compare_markdown;
  const std::string json_path =
      FLAGS_compare_json.empty() ? FLAGS_compare_run_dir + "/results.json" : FLAGS_compare_json;
  std::filesystem::create_directories(std::filesystem::path(md_path).parent_path());
  std::ofstream(md_path) << report.md.str();
  std::ofstream(json_path) << report.json.str();
  std::cout << report.out.str() << "\nwritten: " << md_path << ", " << json_path << "\n";
}


}  // namespace

int RunCompare(int argc, char** argv) {
  StatusOr<std::vector<compare::Method>> methods = ParseMethods(FLAGS_compare_methods);
  if (!methods.ok()) return ReportError("compare", methods.status());
  if (!FLAGS_job.empty()) return RunCompareForJob(*methods);
  proto::JobSpec spec;
  spec.mutable_data()->set_movielens_dir(
      std::filesystem::absolute(FLAGS_compare_data_dir).string());
  job::ApplyDefaults(&spec);
  StatusOr<compare::ComparisonOptions> options = OptionsFromFlags(*methods);
  if (!options.ok()) return ReportError("compare", options.status());
  const bool movielens = FLAGS_compare_movielens || FLAGS_compare_all;
  const bool synthetic = FLAGS_compare_synth || FLAGS_compare_all;
  const bool grid = FLAGS_compare_iak_grid || FLAGS_compare_all;
  const auto total_start = std::chrono::steady_clock::now();

  // The sweep (if asked) picks a key-dropout rate on the validation split; the
  // full comparison then runs before (--compare_key_dropout) and after it.
  SweepResult sweep;
  std::vector<double> rates{FLAGS_compare_key_dropout};
  if (movielens && !FLAGS_compare_dropout_sweep.empty() && FLAGS_compare_model_dir.empty()) {
    StatusOr<SweepResult> swept = DropoutSweep(spec, *options);
    if (!swept.ok()) return ReportError("compare", swept.status());
    sweep = *swept;
    if (sweep.chosen_rate != rates.front()) rates.push_back(sweep.chosen_rate);
  }

  Report report;
  report.md << ResultsPreamble(argc, argv, *options);
  report.json << "{\n\"runs\": [\n";
  if (movielens) {
    report.md << "\n# MovieLens ml-latest-small\n\nOne domain per later rating period; label = "
                 "rating >= 4; no conversions, so CTR-AUC only.\n";
    Status compared = CompareOnMovieLens(spec, *options, rates, &report);
    if (!compared.ok()) return ReportError("compare", compared);
  }
  if (grid && movielens) {
    const std::string last_model =
        FLAGS_compare_model_dir.empty() ? FLAGS_compare_run_dir + "/model" : FLAGS_compare_model_dir;
    StatusOr<std::string> grid_md = IakGrid(spec, last_model, *options);
    if (!grid_md.ok()) return ReportError("compare", grid_md.status());
    report.md << *grid_md;
  }
  report.json << "],\n\"key_dropout_sweep\": " << (sweep.json.empty() ? "[]" : sweep.json);
  report.md << sweep.markdown;
  if (synthetic) {
    StatusOr<Section> synth = SynthSection(*options);
    if (!synth.ok()) return ReportError("compare", synth.status());
    report.md << "\n# Synthetic data\n" << synth->markdown;
    report.json << ",\n\"synthetic\": " << synth->json;
  }
  report.json << "\n}\n";
  report.md << "\n(All of the above: "
            << static_cast<int>(std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                              total_start)
                                    .count())
            << " s on this machine.)\n";
  WriteReport(report);
  return 0;
}

}  // namespace iak::cli
