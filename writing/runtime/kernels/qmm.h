// Shared between the driver (qmm.cpp, plain x86-64 / any-arch code that uses ATen) and the
// per-instruction-set kernels (qmm_avx512.cpp, qmm_avx2.cpp). The kernel files include no ATen or
// STL header: every function in them carries its own __attribute__((target(...))), and an inline
// STL/ATen function instantiated there could be compiled with AVX512 and then picked by the linker
// for the whole extension (an illegal instruction on an AVX2 CPU).
//
// Formats (the same for every path, so a model quantised once runs on any of them):
//   x    activations, one row of K fp32 values; quantised per row into
//        xq   int8 [K]            round(x / d_b), d_b = max|x| over block b / 127 (blocks of 32)
//        dxv  fp32 [K / 4]        d_b repeated 8 times per block (the 8 int32 lanes of a 256-bit
//                                 dot product over one block; a 512-bit register holds 2 blocks)
//        xs   fp32 [K / 32]       exact sum of x over each block (int4 offsets)
//        c128 fp32                128 * sum_b d_b * sum(xq_b) (AVX512 int8 xor trick)
//   int8 W int8 [N, K], one fp32 scale per output row: w = s_n * q.
//   int4 W uint8 [N, K / 2], N a multiple of 8 (quant.quantize_int4 pads with zero rows), in strips of 8
//        rows: rows 8s..8s+7 of the tensor hold strip s, 4 K bytes. Its group g (32 weights of each of the 8
//        rows) is the 128 bytes at 128 g: byte 32 j + 4 r + t (j, t in 0..3, r in 0..7) holds q_r[32 g + 4 j + t]
//        in its low nibble and q_r[32 g + 16 + 4 j + t] in its high one. q in 0..15, w = d * q + m with fp16
//        d and m per row and group, [N, K / 32] each, also by strip: strip s's (g, r) at 8 s (K / 32) + 8 g + r.
//        Kernels take row ranges [n0, n1) of whole strips (multiples of 8). Why strips: qmm_q4strip.inc.
//   bf16 W bf16 [N, K] (raw uint16 bit patterns here).
// K is a multiple of 128 everywhere (checked by the driver).
// STUDIO_QMM_NO_X86: compile the non-x86 branches on an x86 machine (a check of the ARM64 build).
#pragma once

#include <cstdint>

namespace studio_qmm {

constexpr int64_t kBlock = 32;
constexpr int64_t kPrefetchAhead = 256;  // bytes; software prefetch distance (prefetches never fault)

struct KernelTable {
  const char* name;
  // One x row [K] -> xq, dxv, xs (formats above); returns c128.
  float (*quantize_row)(const float* x, int64_t K, int8_t* xq, float* dxv, float* xs);
  // out[n] = sum_k W[n, k] * x[k] for n in [n0, n1) (out indexed by n, not n - n0).
  void (*q8_rows)(const int8_t* w, const float* scales, int64_t K, int64_t n0, int64_t n1, const int8_t* xq,
                  const float* dxv, float c128, float* out);
  void (*q4_rows)(const uint8_t* w, const uint16_t* d, const uint16_t* mn, int64_t K, int64_t n0, int64_t n1,
                  const int8_t* xq, const float* dxv, const float* xs, float* out);
  void (*bf16_rows)(const uint16_t* w, int64_t K, int64_t n0, int64_t n1, const uint16_t* x, float* out);
  // Rows [n0, n1) of W dequantised into out (row n at out + n * K), fp32 or bf16 (RNE).
  void (*q8_dequant_f32)(const int8_t* w, const float* scales, int64_t K, int64_t n0, int64_t n1, float* out);
  void (*q4_dequant_f32)(const uint8_t* w, const uint16_t* d, const uint16_t* mn, int64_t K, int64_t n0,
                         int64_t n1, float* out);
  void (*q8_dequant_bf16)(const int8_t* w, const float* scales, int64_t K, int64_t n0, int64_t n1,
                          uint16_t* out);  // nullptr: the driver rounds the fp32 rows itself
  void (*q4_dequant_bf16)(const uint8_t* w, const uint16_t* d, const uint16_t* mn, int64_t K, int64_t n0,
                          int64_t n1, uint16_t* out);
  // Sum of n int64 values (n a multiple of 32): a read-bandwidth probe.
  int64_t (*read_sum)(const int64_t* p, int64_t n);
  // Prompt rows as an int8 GEMM (nullptr: the driver dequantises for torch's GEMM instead). The x rows
  // use their own format: xq int8 [K] in blocks of 128 with one fp32 scale dx each ([K / 128]), ax =
  // |xq| as uint8 [K] (the unsigned operand of vpmaddubsw); quantize_row128 returns
  // c128 = 128 * sum_b dx_b * sum(xq_b) (the correction for the VNNI path's w + 128).
  float (*quantize_row128)(const float* x, int64_t K, int8_t* xq, uint8_t* ax, float* dx);
  // out[m * ldo + n] = sum_k W[n, k] * x_m[k] for m in [0, M), n in [n0, n1).
  void (*q8_gemm)(const int8_t* w, const float* scales, int64_t K, int64_t n0, int64_t n1, int64_t M,
                  const int8_t* xq, const uint8_t* ax, const float* dx, const float* c128, float* out,
                  int64_t ldo);
  int64_t q8_gemm_min_rows;  // q8_mm uses q8_gemm from this many rows (the GEMV below) ...
  int64_t q8_gemm_max_rows;  // ... up to this many (0: no limit; above it quant.py dequantises for torch's GEMM)
  int64_t q8_gemm_max_rows_amd;  // the same on AMD CPUs, whose fp32 GEMM loses to the int8 one (qmm_avx2.inc)
  // The decode step's attention over the key/value cache, fp32 (fp32 activations) or bf16 (`bf16`, raw
  // uint16 bit patterns). Head h of K or V is T rows of D values at k + h * head_stride (in values; rows
  // contiguous, D a multiple of 8); query head h * G + g reads kv head h. For kv heads [h0, h1):
  //   scores[(h * G + g) * T + t] = scale * dot(K[h][t], q[(h * G + g) * D ...])
  //   out[(h * G + g) * D + d] = sum_t p[(h * G + g) * T + t] * V[h][t][d]
  void (*attn_scores)(const float* q, const void* k, bool bf16, int64_t head_stride, int64_t h0, int64_t h1,
                      int64_t T, int64_t D, int64_t G, float scale, float* scores);
  void (*attn_mix)(const float* p, const void* v, bool bf16, int64_t head_stride, int64_t h0, int64_t h1,
                   int64_t T, int64_t D, int64_t G, float* out);
  // int4 prompt rows as a GEMM (nullptr: none). x rows in quantize_row's format (xq [M, K], dxv [M, K / 4],
  // xs [M, K / 32]); out[m * ldo + n] for m in [0, M), n in [n0, n1). `scratch` holds
  // q4_gemm_scratch_bytes(K) bytes, one buffer per thread.
  void (*q4_gemm)(const uint8_t* w, const uint16_t* d, const uint16_t* mn, int64_t K, int64_t n0, int64_t n1,
                  int64_t M, const int8_t* xq, const float* dxv, const float* xs, float* out, int64_t ldo,
                  uint8_t* scratch);
  int64_t (*q4_gemm_scratch_bytes)(int64_t K);
  int64_t q4_gemm_min_rows;  // q4_mm uses q4_gemm from this many rows (no upper limit)
};

// nullptr where the compiler or architecture cannot build the path (non-x86, old compiler).
const KernelTable* avx512_table();
const KernelTable* avx2_table();
const KernelTable* avx2_vnni_table();

}  // namespace studio_qmm
