// Fused dequantise-and-multiply for weight-only int8 / int4 linear layers on AVX512-VNNI CPUs.
//
// y[M, N] = x[M, K] @ W[N, K]^T with W quantised, x bf16/fp32. Decode (M = 1) is bound by
// memory bandwidth: the weights are read once per token, so bytes per weight decide speed.
// Like llama.cpp's Q8_0/Q4 paths, each row of x is quantised to int8 in blocks of 32 with one
// fp32 scale per block, and the inner loop is `vpdpbusd` (u8 x s8 -> s32, 64 products a
// instruction) followed by one fp32 scale-and-accumulate per 32 weights.
//
//   int8: W int8 [N, K], one fp32 scale per output row. vpdpbusd needs one unsigned side, so
//         the weight byte is flipped to w + 128 (xor 0x80) and 128 * sum(xq) is subtracted.
//   int4: W packed [N, K/2] uint8. In each block of 128 weights (64 bytes), byte j holds
//         w[j] in its low nibble and w[j + 64] in its high nibble; q in 0..15, w = d * q + m,
//         one fp16 scale d and one fp16 offset m per group of 32 weights.
//
// K must be a multiple of 128 (every Qwen3 matrix is); the Python side checks and otherwise
// uses torch's stock kernels. Threads: at::parallel_for over tiles of output rows.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kBlock = 32;    // activation / int4-scale block
constexpr int64_t kTileRows = 64; // output rows per work item: their weights stay in L2 while x streams
constexpr int64_t kPrefetchAhead = 256;  // bytes; software prefetch distance (prefetches never fault)
constexpr int64_t kMinBytesPerThread = 256 * 1024;  // below this a thread wake-up costs more than it saves

// Tiles per parallel chunk: small layers run on one thread (on a busy machine every parallel
// region waits for its slowest, possibly descheduled, thread).
inline int64_t tile_grain(int64_t tile_bytes, int64_t M) {
  return std::max<int64_t>(1, kMinBytesPerThread / std::max<int64_t>(1, tile_bytes * M));
}

// quantize_rows: each row of x quantised: xq int8 [K]; dxv: the 32-block scales, each repeated over the 8
// int32 lanes that vpdpbusd fills from that block (16 floats per 64 bytes); xs[g] = sum(x) over
// block g (for the int4 offsets); c128 = 128 * sum(xs) for the int8 path's xor trick.

void quantize_rows(const at::Tensor& x, int64_t M, int64_t K, std::vector<int8_t>& q, std::vector<float>& dxv,
                   std::vector<float>& xs, std::vector<float>& c128) {
  const int64_t nb = K / kBlock;
  q.resize(M * K);
  dxv.resize(M * nb * 8);
  xs.resize(M * nb);
  c128.resize(M);
  at::Tensor xf = x.to(at::kFloat).contiguous();
  const float* xp = xf.data_ptr<float>();
  at::parallel_for(0, M, std::max<int64_t>(16, 65536 / K), [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      const float* row = xp + m * K;
      double total = 0.0;
      for (int64_t b = 0; b < nb; ++b) {
        const float* v = row + b * kBlock;
        __m512 a0 = _mm512_abs_ps(_mm512_loadu_ps(v));
        __m512 a1 = _mm512_abs_ps(_mm512_loadu_ps(v + 16));
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        float d = amax / 127.0f;
        float inv = d > 0.0f ? 1.0f / d : 0.0f;
        __m512 vi = _mm512_set1_ps(inv);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v), vi));  // round to nearest even
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + 16), vi));
        int8_t* out = q.data() + m * K + b * kBlock;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm512_cvtsepi32_epi8(q1));
        int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        float exact = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_loadu_ps(v), _mm512_loadu_ps(v + 16)));
        float* dv = dxv.data() + m * nb * 8 + b * 8;
        for (int i = 0; i < 8; ++i) dv[i] = d;
        xs[m * nb + b] = exact;  // int4 offsets use the exact block sum
        total += static_cast<double>(d) * sum;
      }
      c128[m] = static_cast<float>(128.0 * total);
    }
  });
}

inline __m512i bcast_x(const int8_t* p) { return _mm512_loadu_si512(p); }

// Four int8 weight rows against one quantised x row.
inline void dot4_q8(const int8_t* w, int64_t K, const int8_t* xq, const float* dxv, float* out4) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
         acc3 = _mm512_setzero_ps();
  const int8_t* w0 = w;
  const int8_t* w1 = w + K;
  const int8_t* w2 = w + 2 * K;
  const int8_t* w3 = w + 3 * K;
  // The 4 rows are read as 4 interleaved streams, which the hardware prefetcher follows poorly:
  // prefetch the next group of 4 rows (contiguous, 4K bytes) at 4x the pace this group is read.
  // Measured on 1.2 GB of Qwen3-shaped int8 matrices: 25-27 -> 29-30 GB/s (2 threads).
  const char* next = reinterpret_cast<const char*>(w + 4 * K) + kPrefetchAhead;
  for (int64_t k = 0; k < K; k += 64) {
    _mm_prefetch(next + 4 * k, _MM_HINT_T0);
    _mm_prefetch(next + 4 * k + 64, _MM_HINT_T0);
    _mm_prefetch(next + 4 * k + 128, _MM_HINT_T0);
    _mm_prefetch(next + 4 * k + 192, _MM_HINT_T0);
    const __m512i xv = bcast_x(xq + k);
    const __m512 dv = _mm512_loadu_ps(dxv + k / 4);
    const __m512i z = _mm512_setzero_si512();
    __m512i p0 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w0 + k), flip), xv);
    __m512i p1 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w1 + k), flip), xv);
    __m512i p2 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w2 + k), flip), xv);
    __m512i p3 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w3 + k), flip), xv);
    acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), dv, acc0);
    acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), dv, acc1);
    acc2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p2), dv, acc2);
    acc3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p3), dv, acc3);
  }
  out4[0] = _mm512_reduce_add_ps(acc0);
  out4[1] = _mm512_reduce_add_ps(acc1);
  out4[2] = _mm512_reduce_add_ps(acc2);
  out4[3] = _mm512_reduce_add_ps(acc3);
}

inline float dot1_q8(const int8_t* w, int64_t K, const int8_t* xq, const float* dxv) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 64) {
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(_mm512_loadu_si512(w + k), flip),
                                    _mm512_loadu_si512(xq + k));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(dxv + k / 4), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// One int4 row (packed) against one quantised x row: sum_g d_g * dx_g * dot(q, xq) + m_g * xs_g.
inline float dot1_q4(const uint8_t* w, const at::Half* d, const at::Half* mn, int64_t K, const int8_t* xq,
                     const float* dxv, const float* xs) {
  const __m512i low = _mm512_set1_epi8(0x0F);
  const __m512i idx01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i idx23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 128) {
    // rows are contiguous, so reading past this row's end prefetches the next row (harmless at the last)
    _mm_prefetch(reinterpret_cast<const char*>(w + k / 2) + 2 * kPrefetchAhead, _MM_HINT_T0);
    const __m512i bytes = _mm512_loadu_si512(w + k / 2);
    const __m512i lo = _mm512_and_si512(bytes, low);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low);
    const __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xq + k));
    const __m512i phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, _mm512_loadu_si512(xq + k + 64));
    // the 4 group scales of this block, fp16 -> fp32, spread over the lanes of each group
    const __m512 d4 = _mm512_castps128_ps512(
        _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(d + k / kBlock))));
    const __m512 slo = _mm512_mul_ps(_mm512_permutexvar_ps(idx01, d4), _mm512_loadu_ps(dxv + k / 4));
    const __m512 shi = _mm512_mul_ps(_mm512_permutexvar_ps(idx23, d4), _mm512_loadu_ps(dxv + k / 4 + 16));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(plo), slo, acc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(phi), shi, acc);
  }
  // offsets: sum_g m_g * xs_g, 16 groups at a time (K / 32 is a multiple of 4, not always of 16)
  const int64_t ng = K / kBlock;
  __m512 macc = _mm512_setzero_ps();
  int64_t g = 0;
  for (; g + 16 <= ng; g += 16) {
    const __m512 mv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(mn + g)));
    macc = _mm512_fmadd_ps(mv, _mm512_loadu_ps(xs + g), macc);
  }
  float total = _mm512_reduce_add_ps(acc) + _mm512_reduce_add_ps(macc);
  for (; g < ng; ++g) total += static_cast<float>(mn[g]) * xs[g];
  return total;
}

void check_x(const at::Tensor& x, int64_t K) {
  TORCH_CHECK(x.dim() == 2, "x must be 2-D [M, K]");
  TORCH_CHECK(x.size(1) == K, "x has ", x.size(1), " columns, weight expects ", K);
  TORCH_CHECK(K % 128 == 0, "K must be a multiple of 128, got ", K);
}

at::Tensor q8_mm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& scales) {
  TORCH_CHECK(w.scalar_type() == at::kChar && w.is_contiguous(), "w must be contiguous int8 [N, K]");
  TORCH_CHECK(scales.scalar_type() == at::kFloat && scales.is_contiguous(), "scales must be fp32 [N]");
  const int64_t N = w.size(0), K = w.size(1), M = x.size(0);
  check_x(x, K);
  std::vector<int8_t> q;
  std::vector<float> dxv, xs, c128;
  quantize_rows(x, M, K, q, dxv, xs, c128);
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const int8_t* wp = w.data_ptr<int8_t>();
  const float* sp = scales.data_ptr<float>();
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  at::parallel_for(0, tiles, tile_grain(kTileRows * K, M), [&](int64_t begin, int64_t end) {
    float r[4];
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n0 = t * kTileRows, n1 = std::min(N, n0 + kTileRows);
      for (int64_t m = 0; m < M; ++m) {
        const int8_t* xq = q.data() + m * K;
        const float* dv = dxv.data() + m * (K / 4);
        float* orow = op + m * N;
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4) {
          dot4_q8(wp + n * K, K, xq, dv, r);
          for (int i = 0; i < 4; ++i) orow[n + i] = sp[n + i] * (r[i] - c128[m]);
        }
        for (; n < n1; ++n) orow[n] = sp[n] * (dot1_q8(wp + n * K, K, xq, dv) - c128[m]);
      }
    }
  });
  return out.to(x.scalar_type());
}

at::Tensor q4_mm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn) {
  TORCH_CHECK(w.scalar_type() == at::kByte && w.is_contiguous(), "w must be contiguous uint8 [N, K/2]");
  TORCH_CHECK(d.scalar_type() == at::kHalf && mn.scalar_type() == at::kHalf && d.is_contiguous() &&
                  mn.is_contiguous(),
              "scales and offsets must be contiguous fp16 [N, K/32]");
  const int64_t N = w.size(0), K = w.size(1) * 2, M = x.size(0);
  check_x(x, K);
  TORCH_CHECK(d.size(0) == N && d.size(1) == K / kBlock && mn.sizes() == d.sizes(), "scales must be [N, K/32]");
  std::vector<int8_t> q;
  std::vector<float> dxv, xs, c128;
  quantize_rows(x, M, K, q, dxv, xs, c128);
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const uint8_t* wp = w.data_ptr<uint8_t>();
  const at::Half* dp = d.data_ptr<at::Half>();
  const at::Half* mp = mn.data_ptr<at::Half>();
  const int64_t ng = K / kBlock;
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  at::parallel_for(0, tiles, tile_grain(kTileRows * K / 2, M), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n0 = t * kTileRows, n1 = std::min(N, n0 + kTileRows);
      for (int64_t m = 0; m < M; ++m) {
        const int8_t* xq = q.data() + m * K;
        const float* dv = dxv.data() + m * (K / 4);
        const float* xsm = xs.data() + m * ng;
        float* orow = op + m * N;
        for (int64_t n = n0; n < n1; ++n) {
          orow[n] = dot1_q4(wp + n * (K / 2), dp + n * ng, mp + n * ng, K, xq, dv, xsm);
        }
      }
    }
  });
  return out.to(x.scalar_type());
}

// bf16 weights, no quantisation: the same 4-row streaming and prefetch as dot4_q8, with vdpbf16ps
// (32 bf16 pairs -> fp32 a instruction). oneDNN's bf16 GEMV reads at ~15-20 GB/s here; this one
// reads like the int8 kernel. x is used as bf16 (the layer's input already is).
inline void dot4_bf16(const at::BFloat16* w, int64_t K, const at::BFloat16* x, float* out4) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
         acc3 = _mm512_setzero_ps();
  const at::BFloat16* w0 = w;
  const at::BFloat16* w1 = w + K;
  const at::BFloat16* w2 = w + 2 * K;
  const at::BFloat16* w3 = w + 3 * K;
  const char* next = reinterpret_cast<const char*>(w + 4 * K) + kPrefetchAhead;
  for (int64_t k = 0; k < K; k += 32) {  // 32 weights = 64 bytes a row
    _mm_prefetch(next + 8 * k, _MM_HINT_T0);
    _mm_prefetch(next + 8 * k + 64, _MM_HINT_T0);
    _mm_prefetch(next + 8 * k + 128, _MM_HINT_T0);
    _mm_prefetch(next + 8 * k + 192, _MM_HINT_T0);
    const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + k);
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(w0 + k), xv);
    acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(w1 + k), xv);
    acc2 = _mm512_dpbf16_ps(acc2, (__m512bh)_mm512_loadu_si512(w2 + k), xv);
    acc3 = _mm512_dpbf16_ps(acc3, (__m512bh)_mm512_loadu_si512(w3 + k), xv);
  }
  out4[0] = _mm512_reduce_add_ps(acc0);
  out4[1] = _mm512_reduce_add_ps(acc1);
  out4[2] = _mm512_reduce_add_ps(acc2);
  out4[3] = _mm512_reduce_add_ps(acc3);
}

inline float dot1_bf16(const at::BFloat16* w, int64_t K, const at::BFloat16* x) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_loadu_si512(w + k), (__m512bh)_mm512_loadu_si512(x + k));
  }
  return _mm512_reduce_add_ps(acc);
}

at::Tensor bf16_mm(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(w.scalar_type() == at::kBFloat16 && w.is_contiguous(), "w must be contiguous bf16 [N, K]");
  const int64_t N = w.size(0), K = w.size(1), M = x.size(0);
  check_x(x, K);
  at::Tensor xb = x.to(at::kBFloat16).contiguous();
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const at::BFloat16* wp = w.data_ptr<at::BFloat16>();
  const at::BFloat16* xp = xb.data_ptr<at::BFloat16>();
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  at::parallel_for(0, tiles, tile_grain(kTileRows * K * 2, M), [&](int64_t begin, int64_t end) {
    float r[4];
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n0 = t * kTileRows, n1 = std::min(N, n0 + kTileRows);
      for (int64_t m = 0; m < M; ++m) {
        const at::BFloat16* xm = xp + m * K;
        float* orow = op + m * N;
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4) {
          dot4_bf16(wp + n * K, K, xm, r);
          for (int i = 0; i < 4; ++i) orow[n + i] = r[i];
        }
        for (; n < n1; ++n) orow[n] = dot1_bf16(wp + n * K, K, xm);
      }
    }
  });
  return out.to(x.scalar_type());
}

// Dequantise to bf16 (for long prompts, where oneDNN's bf16 GEMM is faster than re-quantising).
void check_out(const at::Tensor& out, int64_t N, int64_t K) {
  TORCH_CHECK(out.scalar_type() == at::kBFloat16 && out.is_contiguous() && out.dim() == 2 && out.size(0) == N &&
                  out.size(1) == K,
              "out must be contiguous bf16 [", N, ", ", K, "]");
}

// Dequantise into `out` (a reused buffer: a fresh 50 MB allocation per layer costs more in page
// faults than the dequantisation itself).
void q8_dequant_into(const at::Tensor& w, const at::Tensor& scales, const at::Tensor& out) {
  const int64_t N = w.size(0), K = w.size(1);
  check_out(out, N, K);
  const int8_t* wp = w.data_ptr<int8_t>();
  const float* sp = scales.data_ptr<float>();
  auto* op = reinterpret_cast<__m256i*>(out.data_ptr<at::BFloat16>());
  at::parallel_for(0, N, 64, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const __m512 s = _mm512_set1_ps(sp[n]);
      for (int64_t k = 0; k < K; k += 16) {
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp + n * K + k))));
        _mm256_storeu_si256(op + (n * K + k) / 16, (__m256i)(_mm512_cvtneps_pbh(_mm512_mul_ps(v, s))));
      }
    }
  });
}

at::Tensor q8_dequant(const at::Tensor& w, const at::Tensor& scales) {
  at::Tensor out = at::empty({w.size(0), w.size(1)}, w.options().dtype(at::kBFloat16));
  q8_dequant_into(w, scales, out);
  return out;
}

void q4_dequant_into(const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn, const at::Tensor& out) {
  const int64_t N = w.size(0), K = w.size(1) * 2, ng = K / kBlock;
  check_out(out, N, K);
  const uint8_t* wp = w.data_ptr<uint8_t>();
  const at::Half* dp = d.data_ptr<at::Half>();
  const at::Half* mp = mn.data_ptr<at::Half>();
  auto* op = reinterpret_cast<__m256i*>(out.data_ptr<at::BFloat16>());
  at::parallel_for(0, N, 64, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t k = 0; k < K; k += 128) {
        const uint8_t* b = wp + n * (K / 2) + k / 2;
        for (int64_t j = 0; j < 64; j += 16) {
          const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + j)));
          const __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0x0F)));
          const __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4));
          const int64_t glo = n * ng + (k + j) / kBlock, ghi = n * ng + (k + 64 + j) / kBlock;
          const __m512 rlo = _mm512_fmadd_ps(lo, _mm512_set1_ps(static_cast<float>(dp[glo])),
                                             _mm512_set1_ps(static_cast<float>(mp[glo])));
          const __m512 rhi = _mm512_fmadd_ps(hi, _mm512_set1_ps(static_cast<float>(dp[ghi])),
                                             _mm512_set1_ps(static_cast<float>(mp[ghi])));
          _mm256_storeu_si256(op + (n * K + k + j) / 16, (__m256i)(_mm512_cvtneps_pbh(rlo)));
          _mm256_storeu_si256(op + (n * K + k + 64 + j) / 16, (__m256i)(_mm512_cvtneps_pbh(rhi)));
        }
      }
    }
  });
}

at::Tensor q4_dequant(const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn) {
  at::Tensor out = at::empty({w.size(0), w.size(1) * 2}, w.options().dtype(at::kBFloat16));
  q4_dequant_into(w, d, mn, out);
  return out;
}

// Sum of a large int64 buffer with 4 independent accumulators: the machine's read bandwidth.
int64_t read_sum(const at::Tensor& buf) {
  TORCH_CHECK(buf.scalar_type() == at::kLong && buf.is_contiguous(), "buf must be contiguous int64");
  const int64_t n = buf.numel() / 32 * 32;
  const int64_t* p = buf.data_ptr<int64_t>();
  std::atomic<int64_t> total{0};
  at::parallel_for(0, n / 32, 4096, [&](int64_t begin, int64_t end) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = begin * 32; i < end * 32; i += 32) {
      a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
      a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 8));
      a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 16));
      a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 24));
    }
    total += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
  });
  return total.load();
}

}  // namespace

TORCH_LIBRARY(studio_qmm, m) {
  m.def("q8_mm(Tensor x, Tensor w, Tensor scales) -> Tensor");
  m.def("q4_mm(Tensor x, Tensor w, Tensor d, Tensor mn) -> Tensor");
  m.def("q8_dequant(Tensor w, Tensor scales) -> Tensor");
  m.def("q4_dequant(Tensor w, Tensor d, Tensor mn) -> Tensor");
  m.def("read_sum(Tensor buf) -> int");
  m.def("bf16_mm(Tensor x, Tensor w) -> Tensor");
  m.def("q8_dequant_into(Tensor w, Tensor scales, Tensor(a!) out) -> ()");
  m.def("q4_dequant_into(Tensor w, Tensor d, Tensor mn, Tensor(a!) out) -> ()");
}

TORCH_LIBRARY_IMPL(studio_qmm, CPU, m) {
  m.impl("q8_mm", &q8_mm);
  m.impl("q4_mm", &q4_mm);
  m.impl("q8_dequant", &q8_dequant);
  m.impl("q4_dequant", &q4_dequant);
  m.impl("read_sum", &read_sum);
  m.impl("bf16_mm", &bf16_mm);
  m.impl("q8_dequant_into", &q8_dequant_into);
  m.impl("q4_dequant_into", &q4_dequant_into);
}
