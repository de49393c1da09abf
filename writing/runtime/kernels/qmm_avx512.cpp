// AVX512 path (VNNI + BF16: Sapphire Rapids, Zen 4/5): vpdpbusd on 512-bit registers, 64 int8
// products an instruction; vdpbf16ps for bf16 weights; vcvtneps2bf16 for bf16 dequantisation.
// Formats and the rules for this file (no ATen/STL, a target attribute on every function): qmm.h.
#include "qmm.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(STUDIO_QMM_NO_X86)
#include <immintrin.h>

#define STUDIO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c")))

namespace studio_qmm {
namespace {

// One x row: int8 blocks of 32, two blocks per 512-bit step.
STUDIO_AVX512 float quantize_row(const float* x, int64_t K, int8_t* xq, float* dxv, float* xs) {
  double total = 0.0;
  for (int64_t b = 0; b < K / kBlock; ++b) {
    const float* v = x + b * kBlock;
    const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const __m512 inv = _mm512_set1_ps(d > 0.0f ? 1.0f / d : 0.0f);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inv));  // round to nearest even
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kBlock), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kBlock + 16), _mm512_cvtsepi32_epi8(q1));
    _mm256_storeu_ps(dxv + b * 8, _mm256_set1_ps(d));
    xs[b] = _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
    total += static_cast<double>(d) * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
  return static_cast<float>(128.0 * total);
}

// Four int8 weight rows against one quantised x row. vpdpbusd needs one unsigned side: the weight
// byte is flipped to w + 128 (xor 0x80) and the caller subtracts c128 = 128 * sum(x).
STUDIO_AVX512 inline void dot4_q8(const int8_t* w, int64_t K, const int8_t* xq, const float* dxv, float* out4) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
         acc3 = _mm512_setzero_ps();
  const int8_t *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
  // The 4 rows are read as 4 interleaved streams, which the hardware prefetcher follows poorly:
  // prefetch the next group of 4 rows (contiguous, 4K bytes) at 4x the pace this group is read.
  // Measured on 1.2 GB of Qwen3-shaped int8 matrices (Zen 4): 25-27 -> 29-30 GB/s (2 threads).
  const char* next = reinterpret_cast<const char*>(w + 4 * K) + kPrefetchAhead;
  for (int64_t k = 0; k < K; k += 64) {
    _mm_prefetch(next + 4 * k, _MM_HINT_T0);
    _mm_prefetch(next + 4 * k + 64, _MM_HINT_T0);
    _mm_prefetch(next + 4 * k + 128, _MM_HINT_T0);
    _mm_prefetch(next + 4 * k + 192, _MM_HINT_T0);
    const __m512i xv = _mm512_loadu_si512(xq + k);
    const __m512 dv = _mm512_loadu_ps(dxv + k / 4);
    const __m512i z = _mm512_setzero_si512();
    const __m512i p0 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w0 + k), flip), xv);
    const __m512i p1 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w1 + k), flip), xv);
    const __m512i p2 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w2 + k), flip), xv);
    const __m512i p3 = _mm512_dpbusd_epi32(z, _mm512_xor_si512(_mm512_loadu_si512(w3 + k), flip), xv);
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

STUDIO_AVX512 inline float dot1_q8(const int8_t* w, int64_t K, const int8_t* xq, const float* dxv) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 64) {
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                          _mm512_xor_si512(_mm512_loadu_si512(w + k), flip), _mm512_loadu_si512(xq + k));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(dxv + k / 4), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

STUDIO_AVX512 void q8_rows(const int8_t* w, const float* scales, int64_t K, int64_t n0, int64_t n1,
                           const int8_t* xq, const float* dxv, float c128, float* out) {
  float r[4];
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) {
    dot4_q8(w + n * K, K, xq, dxv, r);
    for (int i = 0; i < 4; ++i) out[n + i] = scales[n + i] * (r[i] - c128);
  }
  for (; n < n1; ++n) out[n] = scales[n] * (dot1_q8(w + n * K, K, xq, dxv) - c128);
}

// int4 decode: the strip GEMV of the AVX2 paths (qmm_q4strip.inc) with EVEX vpdpbusd on ymm. Compared with
// the row-major 512-bit GEMV it replaced, on the int4 layers of Qwen3-4B's shape: see qmm_q4strip.inc.
#define STUDIO_TARGET STUDIO_AVX512
#define STUDIO_DPBUSD 2
#include "qmm_q4strip.inc"
#undef STUDIO_DPBUSD
#undef STUDIO_TARGET

// bf16 weights: the 4-row streaming and prefetch of dot4_q8 with vdpbf16ps (32 bf16 pairs -> fp32 an
// instruction). oneDNN's bf16 GEMV reads at ~15-20 GB/s on Zen 4; this one reads like the int8 kernel.
STUDIO_AVX512 inline void dot4_bf16(const uint16_t* w, int64_t K, const uint16_t* x, float* out4) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
         acc3 = _mm512_setzero_ps();
  const uint16_t *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
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

STUDIO_AVX512 void bf16_rows(const uint16_t* w, int64_t K, int64_t n0, int64_t n1, const uint16_t* x, float* out) {
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) dot4_bf16(w + n * K, K, x, out + n);
  for (; n < n1; ++n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 32) {
      acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_loadu_si512(w + n * K + k), (__m512bh)_mm512_loadu_si512(x + k));
    }
    out[n] = _mm512_reduce_add_ps(acc);
  }
}

STUDIO_AVX512 void q8_dequant_bf16(const int8_t* w, const float* scales, int64_t K, int64_t n0, int64_t n1,
                                   uint16_t* out) {
  for (int64_t n = n0; n < n1; ++n) {
    const __m512 s = _mm512_set1_ps(scales[n]);
    for (int64_t k = 0; k < K; k += 16) {
      const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + n * K + k))));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + n * K + k), (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(v, s)));
    }
  }
}

// Rows [n0, n1) (multiples of 8) of the strips to bf16, 16 weights a step (qmm_q4strip.inc's q4s_group_rows).
STUDIO_AVX512 void q4_dequant_bf16(const uint8_t* w, const uint16_t* d, const uint16_t* mn, int64_t K, int64_t n0,
                                   int64_t n1, uint16_t* out) {
  const int64_t ng = K / kBlock;
  for (int64_t n = n0; n < n1; n += 8) {
    const uint8_t* ws = w + (n / 8) * 4 * K;
    for (int64_t g = 0; g < ng; ++g) {
      __m256i rows[4];
      q4s_group_rows(ws + g * 128, rows);
      for (int r = 0; r < 8; ++r) {
        const __m128i b = r < 4 ? _mm256_castsi256_si128(rows[r]) : _mm256_extracti128_si256(rows[r - 4], 1);
        const __m512i v = _mm512_cvtepu8_epi32(b);
        const __m512 dv = _mm512_set1_ps(_cvtsh_ss(d[n * ng + 8 * g + r]));
        const __m512 mv = _mm512_set1_ps(_cvtsh_ss(mn[n * ng + 8 * g + r]));
        const __m512 lo = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0x0F))), dv, mv);
        const __m512 hi = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), dv, mv);
        uint16_t* o = out + (n + r) * K + 32 * g;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), (__m256i)_mm512_cvtneps_pbh(lo));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 16), (__m256i)_mm512_cvtneps_pbh(hi));
      }
    }
  }
}

// 4 independent accumulators: the machine's read bandwidth with 512-bit loads.
STUDIO_AVX512 int64_t read_sum(const int64_t* p, int64_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < n; i += 32) {
    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 8));
    a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 16));
    a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 24));
  }
  return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

}  // namespace

const KernelTable* avx512_table() {
  // int8 fp32 dequantisation (prompts of an fp32 model) reuses the AVX2 code: every AVX512 CPU has AVX2.
  static const KernelTable table = [] {
    const KernelTable* avx2 = avx2_table();
    return KernelTable{"avx512", quantize_row, q8_rows, q4_strip_rows, bf16_rows,
                       avx2 ? avx2->q8_dequant_f32 : nullptr, q4_strip_dequant_f32,
                       q8_dequant_bf16, q4_dequant_bf16, read_sum,
                       nullptr, nullptr, 0, 0, 0,  // prompts: dequantised for oneDNN's native bf16 GEMM
                       // the key/value cache (bf16 here, fp32 for an fp32 model) is attended by the AVX2 code
                       avx2 ? avx2->attn_scores : nullptr, avx2 ? avx2->attn_mix : nullptr,
                       nullptr, nullptr, 0};  // int4 prompts: dequantised for oneDNN's bf16 GEMM too
  }();
  return table.q8_dequant_f32 ? &table : nullptr;
}

}  // namespace studio_qmm

#else  // not x86-64: the path does not exist here

namespace studio_qmm {
const KernelTable* avx512_table() { return nullptr; }
}  // namespace studio_qmm

#endif
