#include "cuda/cuda_fine_tune_step.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <glog/logging.h>

#include "cuda/cuda_status.h"
#include "cuda/device_buffer.h"
#include "cuda/device_kernels.h"
#include "cuda/device_mlp.h"
#include "model/standard_normals.h"

namespace iak::cuda {
namespace {

std::vector<int> BottomDims(const model::BaseModelConfig& c) {
  std::vector<int> dims{c.input_dim()};
  dims.insert(dims.end(), c.bottom_hidden.begin(), c.bottom_hidden.end());
  return dims;
}

std::vector<int> TowerDims(const model::BaseModelConfig& c) {
  std::vector<int> dims{c.h_dim()};
  dims.insert(dims.end(), c.tower_hidden.begin(), c.tower_hidden.end());
  dims.push_back(1);
  return dims;
}

std::vector<int> EncoderDims(const model::IakConfig& c) {
  std::vector<int> dims{c.input_dim};
  dims.insert(dims.end(), c.encoder_hidden.begin(), c.encoder_hidden.end());
  dims.push_back(c.plain_adapter ? c.latent_dim : 2 * c.latent_dim);
  return dims;
}

std::vector<int> DecoderDims(const model::IakConfig& c) {
  std::vector<int> dims{c.latent_dim};
  dims.insert(dims.end(), c.decoder_hidden.begin(), c.decoder_hidden.end());
  dims.push_back(c.input_dim);
  return dims;
}

bool SameShape(const model::IakConfig& a, const model::IakConfig& b) {
  return a.input_dim == b.input_dim && a.latent_dim == b.latent_dim &&
         a.encoder_hidden == b.encoder_hidden && a.decoder_hidden == b.decoder_hidden &&
         a.plain_adapter == b.plain_adapter;
}

}  // namespace

void DrawReparamNoise(std::mt19937_64* rng, int batch, int k, float* eps) {
  model::DrawStandardNormals(rng, static_cast<size_t>(batch) * k, eps);
}

class CudaFineTuneStep::Impl {
 public:
  Impl(const model::BaseModel& base, const model::IakConfig& iak,
       const CudaStepOptions& options)
      : base_config_(base.config()),
        iak_config_(iak),
        options_(options),
        bottom_(BottomDims(base_config_), /*last_relu=*/true),
        encoder_(EncoderDims(iak), /*last_relu=*/false),
        decoder_(DecoderDims(iak), /*last_relu=*/false) {
    CHECK_EQ(bottom_.num_params(), base.bottom_param_range().size());
    bottom_offset_ = base.bottom_param_range().begin;
    for (int t = 0; t < base_config_.num_tasks; ++t) {
      towers_.emplace_back(TowerDims(base_config_), /*last_relu=*/false);
      CHECK_EQ(towers_.back().num_params(), base.tower_param_range(t).size());
      tower_offsets_.push_back(base.tower_param_range(t).begin);
    }
    // The CPU module is the authority on the adapter's layout.
    model::IakModule probe(iak);
    CHECK_EQ(encoder_.num_params(), probe.encoder_param_range().size());
    CHECK_EQ(decoder_.num_params(), probe.decoder_param_range().size());
    encoder_offset_ = probe.encoder_param_range().begin;
    decoder_offset_ = probe.decoder_param_range().begin;
    num_iak_params_ = probe.num_params();
  }

  ~Impl() {
    if (blas_ != nullptr || stream_ != nullptr) cudaSetDevice(options_.device);
    if (blas_ != nullptr) cublasDestroy(blas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status Init(const model::BaseModel& base) {
    IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    IAK_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    IAK_CUBLAS_RETURN_IF_ERROR(cublasCreate(&blas_));
    IAK_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas_, stream_));
    // Plain FP32 (no TF32 tensor cores): the CPU path's numbers are the spec.
    IAK_CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));

    const size_t b = static_cast<size_t>(options_.max_batch);
    const size_t h = static_cast<size_t>(base_config_.h_dim());
    const size_t k = static_cast<size_t>(iak_config_.latent_dim);
    const int tasks = base_config_.num_tasks;
    IAK_RETURN_IF_ERROR(bottom_.Reserve(options_.max_batch));
    IAK_RETURN_IF_ERROR(encoder_.Reserve(options_.max_batch));
    IAK_RETURN_IF_ERROR(decoder_.Reserve(options_.max_batch));
    for (DeviceMlp& tower : towers_) IAK_RETURN_IF_ERROR(tower.Reserve(options_.max_batch));

    IAK_RETURN_IF_ERROR(base_params_.Reserve(base.num_params()));
    IAK_RETURN_IF_ERROR(iak_params_.Reserve(num_iak_params_));
    IAK_RETURN_IF_ERROR(iak_grads_.Reserve(num_iak_params_));
    IAK_RETURN_IF_ERROR(x_.Reserve(b * base_config_.input_dim()));
    IAK_RETURN_IF_ERROR(h_out_.Reserve(b * h));
    IAK_RETURN_IF_ERROR(dh_.Reserve(b * h));
    IAK_RETURN_IF_ERROR(dh_tmp_.Reserve(b * h));
    IAK_RETURN_IF_ERROR(eps_.Reserve(b * k));
    IAK_RETURN_IF_ERROR(z_.Reserve(b * k));
    IAK_RETURN_IF_ERROR(dz_.Reserve(b * k));
    IAK_RETURN_IF_ERROR(d_enc_.Reserve(b * 2 * k));
    IAK_RETURN_IF_ERROR(kl_terms_.Reserve(b * k));
    IAK_RETURN_IF_ERROR(row_loss_.Reserve(b));
    IAK_RETURN_IF_ERROR(labels_.Reserve(2 * b));
    IAK_RETURN_IF_ERROR(dlogits_.Reserve(static_cast<size_t>(tasks) * b));
    IAK_RETURN_IF_ERROR(sums_.Reserve(2));

    IAK_RETURN_IF_ERROR(pinned_x_.Reserve(b * base_config_.input_dim()));
    IAK_RETURN_IF_ERROR(pinned_params_.Reserve(num_iak_params_));
    IAK_RETURN_IF_ERROR(pinned_grads_.Reserve(num_iak_params_));
    IAK_RETURN_IF_ERROR(pinned_labels_.Reserve(2 * b));
    IAK_RETURN_IF_ERROR(pinned_eps_.Reserve(b * k));
    IAK_RETURN_IF_ERROR(pinned_sums_.Reserve(2));
    // Pooling staging, sized for single-valued fields; grows if needed.
    const size_t keys = b * base_config_.num_fields;
    IAK_RETURN_IF_ERROR(ReservePooling(keys));
    IAK_RETURN_IF_ERROR(pinned_offsets_.Reserve(keys + 1));
    IAK_RETURN_IF_ERROR(offsets_.Reserve(keys + 1));
    IAK_RETURN_IF_ERROR(pinned_mean_.Reserve(base_config_.num_fields));
    IAK_RETURN_IF_ERROR(mean_.Reserve(base_config_.num_fields));

    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpy(base_params_.data(), base.params().data(),
                                        sizeof(float) * base.num_params(),
                                        cudaMemcpyHostToDevice));
    return Status::Ok();
  }

  Status StageX(const float* x, int batch) {
    IAK_RETURN_IF_ERROR(CheckBatch(batch));
    IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    const size_t n = static_cast<size_t>(batch) * base_config_.input_dim();
    std::memcpy(pinned_x_.data(), x, sizeof(float) * n);
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(x_.data(), pinned_x_.data(), sizeof(float) * n,
                                             cudaMemcpyHostToDevice, stream_));
    return Status::Ok();
  }

  Status Pool(const data::Dataset& data, const uint32_t* ids, int batch,
              const model::RowLookup& rows) {
    IAK_RETURN_IF_ERROR(CheckBatch(batch));
    const int fields = base_config_.num_fields;
    const int dim = base_config_.embedding_dim;
    if (data.num_fields() != fields) {
      return InvalidArgumentError("GPU pooling: the data has " +
                                  std::to_string(data.num_fields()) +
                                  " fields but the base model expects " +
                                  std::to_string(fields));
    }
    IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    // The staging buffers may still feed the previous batch's copies.
    IAK_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    size_t occurrences = 0;
    for (int r = 0; r < batch; ++r) {
      const size_t s = ids[r];
      if (s >= data.size()) {
        return InvalidArgumentError("GPU pooling: sample id " + std::to_string(s) +
                                    " is past the end of the data (" +
                                    std::to_string(data.size()) + " samples)");
      }
      occurrences += data.offsets[(s + 1) * fields] - data.offsets[s * fields];
    }
    IAK_RETURN_IF_ERROR(ReservePooling(occurrences));

    // Distinct keys are staged once; every occurrence points at its row.
    slot_of_key_.clear();
    int32_t num_rows = 0;
    int64_t at = 0;
    int64_t* offsets = pinned_offsets_.data();
    int32_t* index = pinned_index_.data();
    float* staged = pinned_rows_.data();
    for (int r = 0; r < batch; ++r) {
      for (int f = 0; f < fields; ++f) {
        offsets[static_cast<size_t>(r) * fields + f] = at;
        size_t count = 0;
        const uint64_t* keys = data.FieldKeys(ids[r], f, &count);
        for (size_t i = 0; i < count; ++i) {
          auto [it, inserted] = slot_of_key_.try_emplace(keys[i], -1);
          if (inserted) {
            const float* row = rows.Find(keys[i]);
            if (row != nullptr) {
              std::memcpy(staged + static_cast<size_t>(num_rows) * dim, row,
                          sizeof(float) * dim);
              it->second = num_rows++;
            }
          }
          index[at++] = it->second;
        }
      }
    }
    offsets[static_cast<size_t>(batch) * fields] = at;
    for (int f = 0; f < fields; ++f) {
      pinned_mean_.data()[f] = data.fields[f].pooling == data::Pooling::kMean ? 1 : 0;
    }

    const size_t n_offsets = static_cast<size_t>(batch) * fields + 1;
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(rows_.data(), staged,
                                             sizeof(float) * num_rows * dim,
                                             cudaMemcpyHostToDevice, stream_));
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(index_.data(), index, sizeof(int32_t) * at,
                                             cudaMemcpyHostToDevice, stream_));
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(offsets_.data(), offsets,
                                             sizeof(int64_t) * n_offsets,
                                             cudaMemcpyHostToDevice, stream_));
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(mean_.data(), pinned_mean_.data(), fields,
                                             cudaMemcpyHostToDevice, stream_));
    LaunchPoolFields(rows_.data(), index_.data(), offsets_.data(), mean_.data(), batch,
                     fields, dim, x_.data(), stream_);
    return CudaStatus(static_cast<int>(cudaGetLastError()), "pooling kernel launch");
  }

  Status DownloadX(int batch, float* x) {
    IAK_RETURN_IF_ERROR(CheckBatch(batch));
    IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    const size_t n = static_cast<size_t>(batch) * base_config_.input_dim();
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(pinned_x_.data(), x_.data(), sizeof(float) * n,
                                             cudaMemcpyDeviceToHost, stream_));
    IAK_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    std::memcpy(x, pinned_x_.data(), sizeof(float) * n);
    return Status::Ok();
  }

  // Draws eps into the pinned staging buffer (as the CPU module would).
  StatusOr<const float*> DrawEps(std::mt19937_64* rng, int batch) {
    IAK_RETURN_IF_ERROR(CheckBatch(batch));
    if (iak_config_.plain_adapter) return static_cast<const float*>(nullptr);
    CHECK(rng != nullptr) << "training needs an rng for eps";
    DrawReparamNoise(rng, batch, iak_config_.latent_dim, pinned_eps_.data());
    return static_cast<const float*>(pinned_eps_.data());
  }

  StatusOr<model::StepStats> Step(model::IakModule* iak, model::IakPhase phase,
                                  float beta, int batch, const float* click,
                                  const float* conversion, const float* eps);

 private:
  Status CheckBatch(int batch) const {
    if (batch < 1 || batch > options_.max_batch) {
      return InvalidArgumentError("GPU step: batch " + std::to_string(batch) +
                                  " outside [1, max_batch=" +
                                  std::to_string(options_.max_batch) + "]");
    }
    return Status::Ok();
  }

  Status ReservePooling(size_t occurrences) {
    const size_t dim = static_cast<size_t>(base_config_.embedding_dim);
    IAK_RETURN_IF_ERROR(pinned_rows_.Reserve(occurrences * dim));
    IAK_RETURN_IF_ERROR(rows_.Reserve(occurrences * dim));
    IAK_RETURN_IF_ERROR(pinned_index_.Reserve(occurrences));
    IAK_RETURN_IF_ERROR(index_.Reserve(occurrences));
    return Status::Ok();
  }

  const model::BaseModelConfig base_config_;
  const model::IakConfig iak_config_;
  const CudaStepOptions options_;
  DeviceMlp bottom_;
  std::vector<DeviceMlp> towers_;
  DeviceMlp encoder_;
  DeviceMlp decoder_;
  size_t bottom_offset_ = 0;
  std::vector<size_t> tower_offsets_;
  size_t encoder_offset_ = 0;
  size_t decoder_offset_ = 0;
  size_t num_iak_params_ = 0;

  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;

  DeviceBuffer<float> base_params_, iak_params_, iak_grads_;
  DeviceBuffer<float> x_, h_out_, dh_, dh_tmp_;
  DeviceBuffer<float> eps_, z_, dz_, d_enc_;
  DeviceBuffer<double> kl_terms_, row_loss_, sums_;
  DeviceBuffer<float> labels_, dlogits_;
  PinnedBuffer<float> pinned_x_, pinned_params_, pinned_grads_, pinned_labels_, pinned_eps_;
  PinnedBuffer<double> pinned_sums_;

  // Pooling.
  PinnedBuffer<float> pinned_rows_;
  PinnedBuffer<int32_t> pinned_index_;
  PinnedBuffer<int64_t> pinned_offsets_;
  PinnedBuffer<uint8_t> pinned_mean_;
  DeviceBuffer<float> rows_;
  DeviceBuffer<int32_t> index_;
  DeviceBuffer<int64_t> offsets_;
  DeviceBuffer<uint8_t> mean_;
  std::unordered_map<uint64_t, int32_t> slot_of_key_;
};

StatusOr<model::StepStats> CudaFineTuneStep::Impl::Step(
    model::IakModule* iak, model::IakPhase phase, float beta, int batch,
    const float* click, const float* conversion, const float* eps) {
  IAK_RETURN_IF_ERROR(CheckBatch(batch));
  if (!SameShape(iak->config(), iak_config_)) {
    return InvalidArgumentError(
        "GPU step: the IAK module's shape differs from the one the step was created for");
  }
  const int tasks = base_config_.num_tasks;
  const bool plain = iak_config_.plain_adapter;
  if (click == nullptr || (tasks == 2 && conversion == nullptr) || (!plain && eps == nullptr)) {
    return InvalidArgumentError(
        "GPU step: click labels, conversion labels (two tasks) and eps (variational IAK) "
        "are required");
  }
  IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  const size_t b = static_cast<size_t>(batch);
  const int k = iak_config_.latent_dim;
  const size_t n_h = b * base_config_.h_dim();
  const size_t mb = static_cast<size_t>(options_.max_batch);

  // Host inputs -> pinned staging -> device, all asynchronous on stream_.
  std::memcpy(pinned_params_.data(), iak->params().data(), sizeof(float) * num_iak_params_);
  std::memcpy(pinned_labels_.data(), click, sizeof(float) * b);
  if (tasks == 2) std::memcpy(pinned_labels_.data() + mb, conversion, sizeof(float) * b);
  IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(iak_params_.data(), pinned_params_.data(),
                                           sizeof(float) * num_iak_params_,
                                           cudaMemcpyHostToDevice, stream_));
  IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(labels_.data(), pinned_labels_.data(),
                                           sizeof(float) * (tasks == 2 ? mb + b : b),
                                           cudaMemcpyHostToDevice, stream_));
  if (!plain) {
    if (eps != pinned_eps_.data()) {
      std::memcpy(pinned_eps_.data(), eps, sizeof(float) * b * k);
    }
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(eps_.data(), pinned_eps_.data(),
                                             sizeof(float) * b * k, cudaMemcpyHostToDevice,
                                             stream_));
  }
  IAK_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(iak_grads_.data(), 0, sizeof(float) * num_iak_params_, stream_));

  const float* base = base_params_.data();
  float* params = iak_params_.data();
  float* grads = iak_grads_.data();

  // Forward: frozen bottom, IAK, frozen towers.
  IAK_RETURN_IF_ERROR(bottom_.Forward(blas_, stream_, base + bottom_offset_, x_.data(), batch));
  const float* h = bottom_.output();
  IAK_RETURN_IF_ERROR(encoder_.Forward(blas_, stream_, params + encoder_offset_, h, batch));
  const float* enc_out = encoder_.output();
  const float* z = enc_out;  // plain adapter: z is the encoder output
  if (!plain) {
    LaunchReparameterize(enc_out, eps_.data(), batch, k, z_.data(), kl_terms_.data(), stream_);
    LaunchSum(kl_terms_.data(), b * k, sums_.data(), stream_);
    z = z_.data();
  }
  IAK_RETURN_IF_ERROR(decoder_.Forward(blas_, stream_, params + decoder_offset_, z, batch));
  LaunchAdd(h, decoder_.output(), n_h, h_out_.data(), stream_);
  for (int t = 0; t < tasks; ++t) {
    IAK_RETURN_IF_ERROR(
        towers_[t].Forward(blas_, stream_, base + tower_offsets_[t], h_out_.data(), batch));
  }

  // Loss and d logits.
  float* dlogit0 = dlogits_.data();
  float* dlogit1 = tasks == 2 ? dlogits_.data() + mb : nullptr;
  LaunchTaskLoss(towers_[0].output(), tasks == 2 ? towers_[1].output() : nullptr,
                 labels_.data(), tasks == 2 ? labels_.data() + mb : nullptr, batch, dlogit0,
                 dlogit1, row_loss_.data(), stream_);
  LaunchSum(row_loss_.data(), b, sums_.data() + 1, stream_);

  // Backward: towers (input gradient only), then the IAK.
  for (int t = 0; t < tasks; ++t) {
    float* dh_t = t == 0 ? dh_.data() : dh_tmp_.data();
    IAK_RETURN_IF_ERROR(towers_[t].Backward(blas_, stream_, base + tower_offsets_[t],
                                            t == 0 ? dlogit0 : dlogit1, batch, dh_t,
                                            /*param_grads=*/nullptr));
    if (t > 0) LaunchAdd(dh_.data(), dh_tmp_.data(), n_h, dh_.data(), stream_);
  }
  IAK_RETURN_IF_ERROR(decoder_.Backward(blas_, stream_, params + decoder_offset_, dh_.data(),
                                        batch, dz_.data(), grads + decoder_offset_));
  if (phase == model::IakPhase::kCompression) {
    const float* d_enc = dz_.data();  // plain adapter: d enc_out = dz
    if (!plain) {
      LaunchLatentBackward(enc_out, eps_.data(), dz_.data(), batch, k,
                           beta / static_cast<float>(batch), d_enc_.data(), stream_);
      d_enc = d_enc_.data();
    }
    IAK_RETURN_IF_ERROR(encoder_.Backward(blas_, stream_, params + encoder_offset_, d_enc,
                                          batch, /*dx=*/nullptr, grads + encoder_offset_));
  }

  IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(pinned_grads_.data(), grads,
                                           sizeof(float) * num_iak_params_,
                                           cudaMemcpyDeviceToHost, stream_));
  IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(pinned_sums_.data(), sums_.data(),
                                           sizeof(double) * 2, cudaMemcpyDeviceToHost,
                                           stream_));
  IAK_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  IAK_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  std::memcpy(iak->mutable_grads(), pinned_grads_.data(), sizeof(float) * num_iak_params_);

  model::StepStats stats;
  stats.kl = plain ? 0.0f : static_cast<float>(pinned_sums_.data()[0] / batch);
  stats.task_loss = static_cast<float>(pinned_sums_.data()[1] / batch);
  stats.loss = stats.task_loss + beta * stats.kl;
  return stats;
}

StatusOr<std::unique_ptr<CudaFineTuneStep>> CudaFineTuneStep::Create(
    const model::BaseModel& base, const model::IakConfig& iak,
    const CudaStepOptions& options) {
  IAK_RETURN_IF_ERROR(model::ValidateIakConfig(iak));
  if (iak.input_dim != base.config().h_dim()) {
    return InvalidArgumentError("GPU step: the IAK input_dim (" + std::to_string(iak.input_dim) +
                                ") must equal the base model's h dimension (" +
                                std::to_string(base.config().h_dim()) + ")");
  }
  if (options.max_batch < 1) {
    return InvalidArgumentError("GPU step: max_batch must be at least 1, got " +
                                std::to_string(options.max_batch));
  }
  IAK_ASSIGN_OR_RETURN(const int devices, DeviceCount());
  if (options.device < 0 || options.device >= devices) {
    return InvalidArgumentError("GPU step: device " + std::to_string(options.device) +
                                " does not exist (" + std::to_string(devices) + " visible)");
  }
  auto impl = std::make_unique<Impl>(base, iak, options);
  IAK_RETURN_IF_ERROR(impl->Init(base));
  return std::unique_ptr<CudaFineTuneStep>(new CudaFineTuneStep(std::move(impl)));
}

CudaFineTuneStep::CudaFineTuneStep(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaFineTuneStep::~CudaFineTuneStep() = default;

StatusOr<model::StepStats> CudaFineTuneStep::Run(model::IakModule* iak,
                                                 model::IakPhase phase, float beta,
                                                 const float* x, int batch,
                                                 const float* click,
                                                 const float* conversion,
                                                 std::mt19937_64* rng) {
  IAK_RETURN_IF_ERROR(impl_->StageX(x, batch));
  IAK_ASSIGN_OR_RETURN(const float* eps, impl_->DrawEps(rng, batch));
  return impl_->Step(iak, phase, beta, batch, click, conversion, eps);
}

StatusOr<model::StepStats> CudaFineTuneStep::RunWithEps(
    model::IakModule* iak, model::IakPhase phase, float beta, const float* x, int batch,
    const float* click, const float* conversion, const float* eps) {
  IAK_RETURN_IF_ERROR(impl_->StageX(x, batch));
  return impl_->Step(iak, phase, beta, batch, click, conversion, eps);
}

Status CudaFineTuneStep::Pool(const data::Dataset& data, const uint32_t* sample_ids,
                              int batch, const model::RowLookup& rows) {
  return impl_->Pool(data, sample_ids, batch, rows);
}

StatusOr<model::StepStats> CudaFineTuneStep::RunPooled(model::IakModule* iak,
                                                       model::IakPhase phase, float beta,
                                                       int batch, const float* click,
                                                       const float* conversion,
                                                       std::mt19937_64* rng) {
  IAK_ASSIGN_OR_RETURN(const float* eps, impl_->DrawEps(rng, batch));
  return impl_->Step(iak, phase, beta, batch, click, conversion, eps);
}

Status CudaFineTuneStep::DownloadX(int batch, float* x) { return impl_->DownloadX(batch, x); }

}  // namespace iak::cuda
