// The small elementwise steps of a one-token decode step (writing/runtime/fastpath.py), each one op:
//
//   rms_norm(x, w, eps)               Qwen3RMSNorm over the last dimension (rows of w.numel() values)
//   add_rms_norm(h, o, w, eps)        (h + o, rms_norm(h + o)): the residual add and the next norm
//   norm_rope(x, w, cos, sin, eps)    per head: rms_norm, then the rotary embedding of one position
//
// Why in C++: at batch 1 these are tensors of 128-4096 values, and each torch op costs 4-8 us of dispatch
// and allocation, more than its arithmetic. transformers' norm + q/k-norm + rotary sequence is about 40 ops
// a layer, 1,400 a token of Qwen3-4B. Here they are four.
//
// They repeat torch's arithmetic op by op, rounding where it rounds: fp32 statistics, the normalised row
// cast to the input's dtype before the gain, and in bf16 every elementwise op rounded to bf16. Only the sum
// of squares is accumulated in another order (in double), so results agree with torch's to a few units in
// the last place, not bit for bit (tests/test_decode_ops.py).
//
// Compiled for baseline x86-64 (or any CPU): no wide instruction is needed for a few thousand values, and
// without FMA contraction an fp32 rotary product rounds exactly as torch's separate multiply and add do.
#include <torch/library.h>
#include <ATen/ATen.h>

#include <cmath>
#include <tuple>

namespace studio_qmm {
namespace {

template <typename T>
inline float rounded(float v) {  // v as torch holds it in T: unchanged for fp32, rounded to nearest for bf16
  return static_cast<float>(static_cast<T>(v));
}

// 1 / sqrt(mean(x^2) + eps) of one row, as Qwen3RMSNorm computes it in fp32.
template <typename T>
float inverse_rms(const T* x, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(x[i]);
    sum += static_cast<double>(v * v);
  }
  return 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
}

// out = w * (x * inv_rms) cast to T, for one row.
template <typename T>
void norm_row(const T* x, const T* w, int64_t n, float eps, T* out) {
  const float inv = inverse_rms(x, n, eps);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<T>(static_cast<float>(w[i]) * rounded<T>(static_cast<float>(x[i]) * inv));
  }
}

void check_rows(const at::Tensor& x, const at::Tensor& w, const char* what) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16, what,
              ": fp32 or bf16 only, got ", x.scalar_type());
  TORCH_CHECK(w.scalar_type() == x.scalar_type() && w.dim() == 1 && w.is_contiguous(), what,
              ": the gain must be a contiguous 1-D tensor of the input's dtype");
  TORCH_CHECK(x.dim() > 0 && x.size(-1) % w.numel() == 0, what, ": rows of ", w.numel(),
              " values expected, got shape ", x.sizes());
}

// Calls body(T{}) with T the C++ type of an fp32 or bf16 tensor (check_rows allows no other).
template <typename Body>
void for_dtype(at::ScalarType dtype, const Body& body) {
  if (dtype == at::kFloat) {
    body(float{});
  } else {
    body(c10::BFloat16{});
  }
}

at::Tensor rms_norm(const at::Tensor& x_in, const at::Tensor& w, double eps) {
  check_rows(x_in, w, "rms_norm");
  const at::Tensor x = x_in.contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t n = w.numel(), rows = x.numel() / n;
  for_dtype(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t r = 0; r < rows; ++r) {
      norm_row(x.data_ptr<T>() + r * n, w.data_ptr<T>(), n, eps, out.data_ptr<T>() + r * n);
    }
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& h_in, const at::Tensor& o_in, const at::Tensor& w,
                                               double eps) {
  check_rows(h_in, w, "add_rms_norm");
  TORCH_CHECK(o_in.sizes() == h_in.sizes() && o_in.scalar_type() == h_in.scalar_type(),
              "add_rms_norm: h and o must have one shape and dtype, got ", h_in.sizes(), " and ", o_in.sizes());
  const at::Tensor h = h_in.contiguous(), o = o_in.contiguous();
  at::Tensor sum = at::empty_like(h), out = at::empty_like(h);
  const int64_t n = w.numel(), rows = h.numel() / n;
  for_dtype(h.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const T *hp = h.data_ptr<T>(), *op = o.data_ptr<T>();
    T* sp = sum.data_ptr<T>();
    for (int64_t i = 0; i < rows * n; ++i) {
      sp[i] = static_cast<T>(static_cast<float>(hp[i]) + static_cast<float>(op[i]));
    }
    for (int64_t r = 0; r < rows; ++r) norm_row(sp + r * n, w.data_ptr<T>(), n, eps, out.data_ptr<T>() + r * n);
  });
  return {sum, out};
}

// One head of d values: normalised into out, then rotated there as transformers' apply_rotary_pos_emb does for
// one position: out = x * cos + rotate_half(x) * sin, rotate_half(x) = (-x[d/2:], x[:d/2]), each op rounded to T.
// Element i and i + d/2 rotate together, so each pair is read before it is written.
template <typename T>
void norm_rope_row(const T* x, const T* w, const T* cos, const T* sin, int64_t d, float eps, T* out) {
  norm_row(x, w, d, eps, out);
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float a = static_cast<float>(out[i]), b = static_cast<float>(out[i + half]);
    const float a_cos = rounded<T>(a * static_cast<float>(cos[i]));
    const float b_sin = rounded<T>(-b * static_cast<float>(sin[i]));
    const float b_cos = rounded<T>(b * static_cast<float>(cos[i + half]));
    const float a_sin = rounded<T>(a * static_cast<float>(sin[i + half]));
    out[i] = static_cast<T>(a_cos + b_sin);
    out[i + half] = static_cast<T>(b_cos + a_sin);
  }
}

at::Tensor norm_rope(const at::Tensor& x_in, const at::Tensor& w, const at::Tensor& cos_in, const at::Tensor& sin_in,
                     double eps) {
  check_rows(x_in, w, "norm_rope");
  const int64_t d = w.numel();
  TORCH_CHECK(d % 2 == 0, "norm_rope: the head size must be even, got ", d);
  TORCH_CHECK(cos_in.numel() == d && sin_in.numel() == d && cos_in.scalar_type() == x_in.scalar_type() &&
                  sin_in.scalar_type() == x_in.scalar_type(),
              "norm_rope: cos and sin must hold one position (", d, " values of the input's dtype)");
  const at::Tensor x = x_in.contiguous(), cos = cos_in.contiguous(), sin = sin_in.contiguous();
  const int64_t rows = x.numel() / d;
  at::Tensor out = at::empty({rows, d}, x.options());
  for_dtype(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t r = 0; r < rows; ++r) {
      norm_rope_row(x.data_ptr<T>() + r * d, w.data_ptr<T>(), cos.data_ptr<T>(), sin.data_ptr<T>(), d, eps,
                    out.data_ptr<T>() + r * d);
    }
  });
  return out;
}

}  // namespace
}  // namespace studio_qmm

TORCH_LIBRARY_FRAGMENT(studio_qmm, m) {
  m.def("rms_norm(Tensor x, Tensor w, float eps) -> Tensor");
  m.def("add_rms_norm(Tensor h, Tensor o, Tensor w, float eps) -> (Tensor, Tensor)");
  m.def("norm_rope(Tensor x, Tensor w, Tensor cos, Tensor sin, float eps) -> Tensor");
}

TORCH_LIBRARY_IMPL(studio_qmm, CPU, m) {
  m.impl("rms_norm", &studio_qmm::rms_norm);
  m.impl("add_rms_norm", &studio_qmm::add_rms_norm);
  m.impl("norm_rope", &studio_qmm::norm_rope);
}
