#include "model/bf16_bottom.h"

#include "common/build_config.h"

#if IAK_HAVE_ONEDNN
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <vector>
#endif

namespace iak::model {

#if IAK_HAVE_ONEDNN
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Type = memory::data_type;

class DnnlBf16Bottom : public Bf16Bottom {
 public:
  DnnlBf16Bottom(const BaseModel& base, int parts) : base_(&base), engine_(dnnl::engine::kind::cpu, 0) {
    const BaseModelConfig& c = base.config();
    std::vector<int> dims = {c.input_dim()};
    for (int w : c.bottom_hidden) dims.push_back(w);
    const int rows = kBlockRows;
    const float* params = base.params().data() + base.bottom_param_range().begin;
    dnnl::stream stream(engine_);
    // x: fp32 -> bf16 reorder.
    memory::desc x_f32({rows, dims[0]}, Type::f32, Tag::ab);
    memory::desc x_bf16({rows, dims[0]}, Type::bf16, Tag::ab);
    // Every primitive gets its scratchpad from the caller: the library's
    // own is shared by all threads (Debian's oneDNN is built without
    // concurrent execution), and two parts run at once.
    dnnl::primitive_attr user_scratchpad;
    user_scratchpad.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::reorder::primitive_desc to_bf16(engine_, x_f32, engine_, x_bf16, user_scratchpad);
    to_bf16_ = dnnl::reorder(to_bf16);
    to_bf16_scratchpad_ = to_bf16.scratchpad_desc();
    size_t offset = 0;
    for (size_t l = 0; l + 1 < dims.size(); ++l) {
      const int in = dims[l], out = dims[l + 1];
      const bool last = l + 2 == dims.size();
      Layer layer;
      memory::desc src({rows, in}, Type::bf16, Tag::ab);
      memory::desc weights({in, out}, Type::bf16, Tag::any);
      memory::desc bias({1, out}, Type::f32, Tag::ab);
      memory::desc dst({rows, out}, last ? Type::f32 : Type::bf16, Tag::ab);
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);  // ReLU after every layer
      dnnl::primitive_attr attr;
      attr.set_post_ops(ops);
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, bias, dst), attr, engine_);
      if (l == 0) impl_ = pd.impl_info_str();
      layer.matmul = dnnl::matmul(pd);
      layer.scratchpad = pd.scratchpad_desc();
      // The layer's fp32 W [in x out] (Mlp layout: W then b), reordered once
      // into the matmul's bf16 layout.
      memory w_f32({{in, out}, Type::f32, Tag::ab}, engine_, const_cast<float*>(params + offset));
      layer.weights = memory(pd.weights_desc(), engine_);
      dnnl::reorder(w_f32, layer.weights).execute(stream, w_f32, layer.weights);
      offset += static_cast<size_t>(in) * out;
      layer.bias = memory(bias, engine_);
      std::copy(params + offset, params + offset + out, static_cast<float*>(layer.bias.get_data_handle()));
      offset += out;
      layer.src = src;
      layer.dst = dst;
      layers_.push_back(std::move(layer));
    }
    stream.wait();
    x_bf16_desc_ = x_bf16;
    x_f32_desc_ = x_f32;
    for (int p = 0; p < parts; ++p) {
      Scratch s;
      s.stream = dnnl::stream(engine_);
      s.x = memory(x_bf16, engine_);
      s.to_bf16_scratchpad = memory(to_bf16_scratchpad_, engine_);
      for (const Layer& layer : layers_) s.scratchpads.emplace_back(layer.scratchpad, engine_);
      for (size_t l = 0; l + 1 < layers_.size(); ++l) s.act.emplace_back(layers_[l].dst, engine_);
      scratch_.push_back(std::move(s));
    }
  }

  void Forward(const float* x, float* h, int part) override {
    // The batch is already split over the trainer's threads: each call runs
    // on its calling thread alone (OpenMP's thread count is per thread).
    if (omp_get_max_threads() != 1) omp_set_num_threads(1);
    Scratch& s = scratch_[static_cast<size_t>(part)];
    memory x_in(x_f32_desc_, engine_, const_cast<float*>(x));
    to_bf16_.execute(s.stream, {{DNNL_ARG_FROM, x_in},
                                {DNNL_ARG_TO, s.x},
                                {DNNL_ARG_SCRATCHPAD, s.to_bf16_scratchpad}});
    memory h_out(layers_.back().dst, engine_, h);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const memory& src = l == 0 ? s.x : s.act[l - 1];
      const memory& dst = l + 1 == layers_.size() ? h_out : s.act[l];
      layers_[l].matmul.execute(s.stream, {{DNNL_ARG_SRC, src},
                                           {DNNL_ARG_WEIGHTS, layers_[l].weights},
                                           {DNNL_ARG_BIAS, layers_[l].bias},
                                           {DNNL_ARG_DST, dst},
                                           {DNNL_ARG_SCRATCHPAD, s.scratchpads[l]}});
    }
    s.stream.wait();
  }

  const char* impl() const override { return impl_; }
  const BaseModel* base() const override { return base_; }

 private:
  struct Layer {
    dnnl::matmul matmul;
    memory weights;
    memory bias;
    memory::desc src, dst;
    memory::desc scratchpad;
  };
  struct Scratch {
    dnnl::stream stream;
    memory x;                 // the block's x in bf16
    std::vector<memory> act;  // hidden activations (bf16)
    memory to_bf16_scratchpad;
    std::vector<memory> scratchpads;  // per layer
  };
  const BaseModel* base_;
  dnnl::engine engine_;
  dnnl::reorder to_bf16_;
  memory::desc x_bf16_desc_, x_f32_desc_, to_bf16_scratchpad_;
  std::vector<Layer> layers_;
  std::vector<Scratch> scratch_;
  const char* impl_ = "";
};

}  // namespace

bool Bf16Bottom::Available() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

StatusOr<std::unique_ptr<Bf16Bottom>> Bf16Bottom::Create(const BaseModel& base, int parts) {
  if (!Available()) {
    return FailedPreconditionError(
        "frozen_precision \"bf16\" needs a CPU with AVX-512 BF16 or AMX; this one has neither; "
        "use \"fp32\"");
  }
  try {
    return std::unique_ptr<Bf16Bottom>(std::make_unique<DnnlBf16Bottom>(base, parts));
  } catch (const dnnl::error& e) {
    return FailedPreconditionError(std::string("oneDNN cannot build the bf16 bottom: ") + e.what());
  }
}

#else  // !IAK_HAVE_ONEDNN

bool Bf16Bottom::Available() { return false; }

StatusOr<std::unique_ptr<Bf16Bottom>> Bf16Bottom::Create(const BaseModel&, int) {
  return FailedPreconditionError(
      "frozen_precision \"bf16\" needs oneDNN: install libdnnl-dev (tools/install_deps.sh) and "
      "rebuild");
}

#endif

}  // namespace iak::model
