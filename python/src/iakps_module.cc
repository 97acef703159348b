// _iakps: the C++ library seen from Python (the `iakps` package wraps it;
// docs/python.md). Everything here is glue: scoring is worker::PredictSamples
// over worker::LoadJobModels, data goes through data::LoadJobData or the
// job's schema (data::ParseColumns), job state and progress through cluster/.
//
// Arrays: a Batch's keys, offsets, domains and labels are read-only numpy
// views of its C++ vectors (no copy; the view keeps the Batch alive); scores
// are written straight into numpy arrays (the caller's, with out=). Scoring
// and data loading release the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/job_state.h"
#include "cluster/progress.h"
#include "common/keys.h"
#include "data/column_batch.h"
#include "data/dataset_append.h"
#include "data/schema.h"
#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "model/metrics.h"
#include "worker/domain_predictor.h"
#include "worker/job_data.h"

namespace py = pybind11;

namespace iak::python {
namespace {

// A failed Status as the Python exception a caller expects.
[[noreturn]] void Raise(const Status& status) {
  const std::string message = status.ToString();
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
      throw py::value_error(message);
    case StatusCode::kNotFound:
      PyErr_SetString(PyExc_FileNotFoundError, message.c_str());
      throw py::error_already_set();
    default:
      throw std::runtime_error(message);
  }
}

void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}

template <typename T>
T Value(StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return std::move(*value);
}

// f() with the GIL released (the library never calls back into Python).
template <typename F>
auto WithoutGil(F f) {
  py::gil_scoped_release release;
  return f();
}

// Samples in the library's columnar form, shared with the numpy views of it.
struct Batch {
  std::shared_ptr<const data::Dataset> data;
};

// A new C-contiguous array of `shape` (strides given explicitly: the
// count-only constructor of this pybind11 version leaves them 0).
template <typename T>
py::array_t<T> NewArray(std::vector<py::ssize_t> shape) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = sizeof(T);
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return py::array_t<T>(shape, strides);
}

// A read-only 1-D view of `v` that keeps `owner` alive.
template <typename T>
py::array View(const std::shared_ptr<const data::Dataset>& owner, const std::vector<T>& v) {
  auto* keep = new std::shared_ptr<const data::Dataset>(owner);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<const data::Dataset>*>(p); });
  py::array_t<T> out({static_cast<py::ssize_t>(v.size())}, {static_cast<py::ssize_t>(sizeof(T))},
                     v.data(), base);
  py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return out;
}

// A job's split ("test", "validation", "train"; "all" = every sample), every
// domain's samples in sample order, as `iak predict --input=<split>` reads it.
Batch ReadSplit(const proto::JobSpec& spec, const std::string& split) {
  if (split != "test" && split != "validation" && split != "train" && split != "all") {
    throw py::value_error("split must be test, validation, train or all, not '" + split + "'");
  }
  worker::JobData job = Value(WithoutGil([&] { return worker::LoadJobData(spec.data()); }));
  if (split == "all") return Batch{std::make_shared<data::Dataset>(std::move(job.dataset))};
  data::SampleIds ids;
  for (const data::DomainSplit& s : job.splits) {
    const data::SampleIds& part =
        split == "test" ? s.test : split == "validation" ? s.validation : s.train;
    ids.insert(ids.end(), part.begin(), part.end());
  }
  std::sort(ids.begin(), ids.end());
  auto selected = std::make_shared<data::Dataset>();
  selected->fields = job.dataset.fields;
  selected->domain_names = job.dataset.domain_names;
  data::AppendSamples(job.dataset, ids, selected.get());
  return Batch{selected};
}

// One numpy value as the text a CSV cell would hold: integers in decimal,
// floats in their shortest round-trip form ("7", "0.5"; NaN = empty, a
// missing value), str/bytes as they are, None as empty.
std::vector<std::string> CellTexts(const py::handle& column) {
  py::array array = py::array::ensure(column);
  if (!array) throw py::value_error("a column must be array-like");
  if (array.ndim() != 1) throw py::value_error("a column must be 1-D");
  std::vector<std::string> out(static_cast<size_t>(array.shape(0)));
  const char kind = array.dtype().kind();
  char buf[64];
  if (kind == 'i' || kind == 'u' || kind == 'b') {
    py::array_t<int64_t, py::array::forcecast> v(array);
    auto r = v.unchecked<1>();
    for (py::ssize_t i = 0; i < r.shape(0); ++i) out[i] = std::to_string(r(i));
  } else if (kind == 'f') {
    py::array_t<double, py::array::forcecast> v(array);
    auto r = v.unchecked<1>();
    for (py::ssize_t i = 0; i < r.shape(0); ++i) {
      if (std::isnan(r(i))) continue;
      const auto res = std::to_chars(buf, buf + sizeof(buf), r(i));
      out[i].assign(buf, res.ptr);
    }
  } else {
    for (py::ssize_t i = 0; i < array.shape(0); ++i) {
      py::object item = array.attr("__getitem__")(i);
      if (item.is_none()) continue;
      if (py::isinstance<py::float_>(item) && std::isnan(item.cast<double>())) continue;
      if (py::isinstance<py::bytes>(item)) {
        out[i] = item.cast<std::string>();
      } else {
        out[i] = py::str(item).cast<std::string>();
      }
    }
  }
  return out;
}

// Raw feature values (column name -> array) through `schema`, as the job's
// text files are read.
Batch EncodeColumns(const data::CompiledSchema& schema, const py::dict& columns,
                    const py::object& domain) {
  std::vector<data::ColumnText> texts;
  for (const auto& [name, values] : columns) {
    texts.push_back({py::str(name).cast<std::string>(), CellTexts(values)});
  }
  std::vector<std::string> domains;
  if (py::isinstance<py::str>(domain)) {
    const size_t rows = texts.empty() ? 0 : texts[0].values.size();
    domains.assign(rows, domain.cast<std::string>());
  } else if (!domain.is_none()) {
    domains = CellTexts(domain);
  }
  const bool given = !domain.is_none();
  data::Dataset parsed = Value(WithoutGil(
      [&] { return data::ParseColumns(schema, texts, given ? &domains : nullptr); }));
  return Batch{std::make_shared<data::Dataset>(std::move(parsed))};
}

// Samples given as keys: CSR over (sample, field) like data::Dataset.
Batch BatchFromKeys(py::array_t<uint64_t, py::array::c_style | py::array::forcecast> keys,
                    py::array_t<uint64_t, py::array::c_style | py::array::forcecast> offsets,
                    py::array_t<int32_t, py::array::c_style | py::array::forcecast> domain,
                    std::vector<std::string> domain_names, std::vector<std::string> field_names,
                    std::vector<std::string> pooling) {
  auto d = std::make_shared<data::Dataset>();
  const size_t nf = field_names.size();
  const size_t n = static_cast<size_t>(domain.size());
  if (nf == 0) throw py::value_error("give at least one field name");
  if (!pooling.empty() && pooling.size() != nf) {
    throw py::value_error("pooling needs one entry per field");
  }
  if (static_cast<size_t>(offsets.size()) != n * nf + 1) {
    throw py::value_error("offsets must have samples * fields + 1 = " +
                          std::to_string(n * nf + 1) + " entries, not " +
                          std::to_string(offsets.size()));
  }
  for (size_t f = 0; f < nf; ++f) {
    data::FieldInfo info;
    info.name = field_names[f];
    info.pooling = !pooling.empty() && pooling[f] == "mean" ? data::Pooling::kMean
                                                            : data::Pooling::kSum;
    d->fields.push_back(info);
  }
  d->keys.assign(keys.data(), keys.data() + keys.size());
  d->offsets.assign(offsets.data(), offsets.data() + offsets.size());
  if (d->offsets.front() != 0 || d->offsets.back() != d->keys.size()) {
    throw py::value_error("offsets must start at 0 and end at len(keys)");
  }
  for (size_t i = 0; i + 1 < d->offsets.size(); ++i) {
    if (d->offsets[i] > d->offsets[i + 1]) throw py::value_error("offsets must not decrease");
  }
  d->domain.assign(domain.data(), domain.data() + n);
  for (int32_t v : d->domain) {
    if (v < 0 || static_cast<size_t>(v) >= domain_names.size()) {
      throw py::value_error("domain index " + std::to_string(v) + " outside domain_names");
    }
  }
  d->domain_names = std::move(domain_names);
  d->click.assign(n, 0.0f);
  d->timestamp.assign(n, 0);
  return Batch{d};
}

// A finished job's models loaded once; scores any Batch, each sample through
// its domain's adapter (by domain name; a domain without one: the base).
class Predictor {
 public:
  Predictor(const proto::JobSpec& spec, std::vector<std::string> domains)
      : domains_(std::move(domains)) {
    models_ = Value(WithoutGil([&] { return worker::LoadJobModels(spec, domains_); }));
  }

  // adapters=false: every sample through the frozen base alone.
  py::dict Score(const Batch& batch, int batch_size, py::object out_ctr, py::object out_ctcvr,
                 bool use_adapters) {
    const data::Dataset& d = *batch.data;
    const bool esmm = models_->base->config().num_tasks == 2;
    const size_t n = d.size();
    py::array_t<float> p_ctr = Output(out_ctr, n, "out_ctr");
    py::array_t<float> p_ctcvr = esmm ? Output(out_ctcvr, n, "out_ctcvr") : py::array_t<float>();
    // The batch's domain names onto this predictor's; unknown names score
    // with the base (an extra domain without a model of its own).
    std::vector<int32_t> map;
    for (const std::string& name : d.domain_names) {
      const auto it = std::find(domains_.begin(), domains_.end(), name);
      map.push_back(static_cast<int32_t>(it - domains_.begin()));  // domains_.size() if unknown
    }
    StatusOr<worker::DomainPredictor> predictor =
        models_->MakePredictor(use_adapters, /*extra_base_domains=*/1);
    if (!predictor.ok()) Raise(predictor.status());
    data::SampleIds ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = static_cast<uint32_t>(i);
    worker::PredictOptions options;
    options.batch_size = batch_size;
    options.domain_map = &map;
    float* ctr = p_ctr.mutable_data();
    float* ctcvr = esmm ? p_ctcvr.mutable_data() : nullptr;
    // A domain's adapter comes with the new-key rows and key biases it
    // trained (if any).
    const std::vector<const model::RowLookup*> domain_rows =
        use_adapters ? models_->DomainRows() : std::vector<const model::RowLookup*>();
    const std::vector<const worker::KeyBiases*> domain_biases =
        use_adapters ? models_->DomainBiases() : std::vector<const worker::KeyBiases*>();
    Check(WithoutGil([&] {
      return worker::PredictSamples(d, ids, *models_->rows, options, &*predictor, ctr, ctcvr,
                                    domain_rows, domain_biases);
    }));
    py::dict result;
    result["p_ctr"] = p_ctr;
    if (esmm) result["p_ctcvr"] = p_ctcvr;
    return result;
  }

  const std::vector<std::string>& domains() const { return domains_; }
  // Per domain (in domains() order): whether a model of its own (an adapter,
  // or a dense-family job's fine-tuned model) serves it.
  std::vector<bool> adapted() const {
    std::vector<bool> out;
    for (size_t d = 0; d < domains_.size(); ++d) out.push_back(models_->Tuned(d));
    return out;
  }
  int num_tasks() const { return models_->base->config().num_tasks; }

 private:
  // `out` (a C-contiguous float32 array of n values) or a new one.
  static py::array_t<float> Output(const py::object& out, size_t n, const char* name) {
    if (out.is_none()) return NewArray<float>({static_cast<py::ssize_t>(n)});
    if (!py::isinstance<py::array_t<float>>(out)) {
      throw py::value_error(std::string(name) + " must be a float32 numpy array");
    }
    py::array_t<float> a = out.cast<py::array_t<float>>();
    if (a.ndim() != 1 || static_cast<size_t>(a.shape(0)) != n ||
        !(a.flags() & py::array::c_style) || !a.writeable()) {
      throw py::value_error(std::string(name) + " must be a writeable contiguous float32 array of " +
                            std::to_string(n) + " values");
    }
    return a;
  }

  std::vector<std::string> domains_;
  std::unique_ptr<worker::JobModels> models_;
};

// A model directory: its manifest, and its rows on demand.
class Model {
 public:
  explicit Model(const std::string& path) {
    dir_ = Value(embedding::LoadModelDirectory(path));
  }
  const proto::ModelManifest& manifest() const { return dir_.manifest; }
  std::string path() const { return dir_.path; }

  // The rows of `keys` [n, dim] (zero rows for absent keys) and a found mask.
  py::tuple Lookup(py::array_t<uint64_t, py::array::c_style | py::array::forcecast> keys) {
    if (table_ == nullptr) {
      table_ = Value(WithoutGil([&] { return embedding::LocalEmbeddingTable::Open(dir_); }));
    }
    const py::ssize_t n = keys.size();
    const py::ssize_t dim = table_->dim();
    py::array_t<float> rows = NewArray<float>({n, dim});
    py::array_t<bool> found = NewArray<bool>({n});
    table_->Lookup(keys.data(), static_cast<size_t>(n), rows.mutable_data());
    for (py::ssize_t i = 0; i < n; ++i) found.mutable_data()[i] = table_->Find(keys.data()[i]) != nullptr;
    return py::make_tuple(rows, found);
  }

 private:
  embedding::ModelDirectory dir_;
  std::unique_ptr<embedding::LocalEmbeddingTable> table_;
};

py::dict JobStateDict(const std::string& output_dir) {
  const proto::JobState s = Value(cluster::ReadJobState(output_dir));
  py::dict d;
  d["job_name"] = s.job_name();
  d["launcher"] = s.launcher();
  d["state"] = s.state();
  d["supervisor_pid"] = s.supervisor_pid();
  d["log_dir"] = s.log_dir();
  d["submitted_at"] = s.submitted_at();
  d["finished_at"] = s.finished_at();
  d["message"] = s.message();
  d["restarts"] = s.restarts();
  d["scheduler_address"] = s.scheduler_address();
  return d;
}

// The workers' progress as `iak submit` shows it, from the log in `log_dir`.
py::dict Progress(const proto::JobSpec& spec, const std::string& log_dir) {
  std::vector<int64_t> steps;
  for (const proto::PhaseCommand& p : spec.phases()) steps.push_back(p.steps());
  cluster::JobProgress progress(steps);
  std::ifstream log(log_dir + "/workers.log");
  std::string line;
  const auto now = std::chrono::steady_clock::now();
  while (std::getline(log, line)) progress.Observe(line, now);
  py::dict d;
  d["done_steps"] = progress.done_steps();
  d["total_steps"] = progress.total_steps();
  d["bar"] = progress.Render(30);
  return d;
}

// The Batch class: a Dataset's arrays as read-only numpy views.
void BindBatch(py::module_& m) {
  py::class_<Batch>(m, "Batch")
      .def_static("from_keys", &BatchFromKeys, py::arg("keys"), py::arg("offsets"),
                  py::arg("domain"), py::arg("domain_names"), py::arg("field_names"),
                  py::arg("pooling") = std::vector<std::string>())
      .def("__len__", [](const Batch& b) { return b.data->size(); })
      .def_property_readonly("keys", [](const Batch& b) { return View(b.data, b.data->keys); })
      .def_property_readonly("offsets",
                             [](const Batch& b) { return View(b.data, b.data->offsets); })
      .def_property_readonly("domain", [](const Batch& b) { return View(b.data, b.data->domain); })
      .def_property_readonly("click", [](const Batch& b) { return View(b.data, b.data->click); })
      .def_property_readonly("conversion",
                             [](const Batch& b) -> py::object {
                               if (!b.data->has_conversion()) return py::none();
                               return View(b.data, b.data->conversion);
                             })
      .def_property_readonly("timestamp",
                             [](const Batch& b) { return View(b.data, b.data->timestamp); })
      .def_property_readonly("domain_names", [](const Batch& b) { return b.data->domain_names; })
      .def_property_readonly("field_names",
                             [](const Batch& b) {
                               std::vector<std::string> out;
                               for (const auto& f : b.data->fields) out.push_back(f.name);
                               return out;
                             })
      .def_property_readonly("field_pooling", [](const Batch& b) {
        std::vector<std::string> out;
        for (const auto& f : b.data->fields) {
          out.push_back(f.pooling == data::Pooling::kMean ? "mean" : "sum");
        }
        return out;
      });
}

// The Model class: a model directory's manifest and its rows.
void BindModel(py::module_& m) {
  py::class_<Model>(m, "Model")
      .def(py::init<const std::string&>(), py::arg("path"))
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("snapshot_id",
                             [](const Model& mo) { return mo.manifest().snapshot_id(); })
      .def_property_readonly("embedding_dim",
                             [](const Model& mo) { return mo.manifest().embedding_dim(); })
      .def_property_readonly("num_shards",
                             [](const Model& mo) { return mo.manifest().num_shards(); })
      .def_property_readonly("row_dtype", [](const Model& mo) { return mo.manifest().row_dtype(); })
      .def_property_readonly("num_rows",
                             [](const Model& mo) {
                               uint64_t n = 0;
                               for (const auto& s : mo.manifest().shards()) n += s.num_rows();
                               return n;
                             })
      .def_property_readonly("fields",
                             [](const Model& mo) {
                               std::vector<std::pair<std::string, std::string>> out;
                               for (const auto& f : mo.manifest().fields()) {
                                 out.emplace_back(f.name(), f.pooling());
                               }
                               return out;
                             })
      .def("lookup", &Model::Lookup, py::arg("keys"));
}

}  // namespace
}  // namespace iak::python

PYBIND11_MODULE(_iakps, m) {
  using namespace iak;
  using namespace iak::python;
  m.doc() = "IAK-PS C++ library bindings; use the iakps package (docs/python.md)";
#ifdef IAKPS_IAK_BINARY
  m.attr("built_iak_binary") = IAKPS_IAK_BINARY;
#else
  m.attr("built_iak_binary") = "";
#endif

  py::class_<proto::JobSpec>(m, "JobSpec")
      .def(py::init([](const std::string& path) { return Value(job::LoadJobSpec(path)); }),
           py::arg("path"))
      .def_property_readonly("name", &proto::JobSpec::name)
      .def_property_readonly("model_dir", &proto::JobSpec::model_dir)
      .def_property_readonly("output_dir", &proto::JobSpec::output_dir)
      .def_property_readonly("method", &proto::JobSpec::method)
      .def_property_readonly("schema_file",
                             [](const proto::JobSpec& s) { return s.data().schema_file(); })
      .def("__str__", &proto::JobSpec::DebugString);

  py::class_<data::CompiledSchema>(m, "Schema")
      .def(py::init([](const std::string& path) { return Value(data::LoadSchema(path)); }),
           py::arg("path"))
      .def_property_readonly("name", [](const data::CompiledSchema& s) { return s.schema.name(); })
      .def_property_readonly("columns",
                             [](const data::CompiledSchema& s) {
                               std::vector<std::string> names;
                               for (const auto& c : s.columns) names.push_back(c.name);
                               return names;
                             })
      .def("encode", &EncodeColumns, py::arg("columns"), py::arg("domain") = py::none(),
           "column name -> 1-D array; domain: None (the schema's), a name, or one per row");

  BindBatch(m);

  m.def("read_split", &ReadSplit, py::arg("spec"), py::arg("split") = "test");

  py::class_<Predictor>(m, "Predictor")
      .def(py::init<const proto::JobSpec&, std::vector<std::string>>(), py::arg("spec"),
           py::arg("domains"))
      .def("score", &Predictor::Score, py::arg("batch"), py::arg("batch_size") = 1024,
           py::arg("out_ctr") = py::none(), py::arg("out_ctcvr") = py::none(),
           py::arg("adapters") = true)
      .def_property_readonly("domains", &Predictor::domains)
      .def_property_readonly("adapted", &Predictor::adapted)
      .def_property_readonly("num_tasks", &Predictor::num_tasks);

  BindModel(m);

  m.def(
      "roc_auc",
      [](py::array_t<float, py::array::c_style | py::array::forcecast> scores,
         py::array_t<float, py::array::c_style | py::array::forcecast> labels) {
        if (scores.size() != labels.size()) throw py::value_error("scores and labels differ in length");
        return Value(model::RocAuc(scores.data(), labels.data(), static_cast<size_t>(scores.size())));
      },
      py::arg("scores"), py::arg("labels"), "ROC AUC as `iak predict` computes it");
  m.def(
      "feature_keys",
      [](uint32_t field, py::array_t<uint64_t, py::array::c_style | py::array::forcecast> values) {
        py::array_t<uint64_t> keys = NewArray<uint64_t>({values.size()});
        for (py::ssize_t i = 0; i < values.size(); ++i) {
          keys.mutable_data()[i] = FeatureKey(field, values.data()[i]);
        }
        return keys;
      },
      py::arg("field"), py::arg("values"),
      "the embedding keys of integer values of a field (common/keys.h FeatureKey)");
  m.def("job_state", &JobStateDict, py::arg("output_dir"));
  m.def("progress", &Progress, py::arg("spec"), py::arg("log_dir"));
}
