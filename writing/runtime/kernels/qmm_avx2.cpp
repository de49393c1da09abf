// The AVX2 paths: plain AVX2 + FMA + F16C, and the same code with AVX-VNNI's 256-bit vpdpbusd.
// One source (qmm_avx2.inc) compiled twice under different target attributes, so neither copy
// contains an instruction its CPU class lacks. Rules for this file: qmm.h.
#include "qmm.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(STUDIO_QMM_NO_X86)
#include <immintrin.h>

namespace studio_qmm {

namespace avx2 {
#define STUDIO_TARGET __attribute__((target("avx2,fma,f16c")))
#define STUDIO_VNNI 0
#include "qmm_avx2.inc"
#undef STUDIO_TARGET
#undef STUDIO_VNNI
}  // namespace avx2

// _mm256_dpbusd_avx_epi32 needs GCC 11 / clang 12; older compilers build the plain AVX2 path only.
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define STUDIO_HAVE_AVXVNNI 1
namespace avx2_vnni {
#define STUDIO_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define STUDIO_VNNI 1
#include "qmm_avx2.inc"
#undef STUDIO_TARGET
#undef STUDIO_VNNI
}  // namespace avx2_vnni
#endif

const KernelTable* avx2_table() {
  using namespace avx2;
  static const KernelTable table{"avx2", quantize_row, q8_rows, q4_strip_rows, bf16_rows, q8_dequant_f32,
                                 q4_strip_dequant_f32, nullptr, nullptr, read_sum,
                                 quantize_row128, q8_gemm, kGemmMinRows, kGemmMaxRows, kGemmMaxRowsAmd,
                                 attn_scores, attn_mix, q4_gemm, q4_gemm_scratch_bytes, kQ4GemmMinRows};
  return &table;
}

const KernelTable* avx2_vnni_table() {
#ifdef STUDIO_HAVE_AVXVNNI
  using namespace avx2_vnni;
  static const KernelTable table{"avx2_vnni", quantize_row, q8_rows, q4_strip_rows, bf16_rows, q8_dequant_f32,
                                 q4_strip_dequant_f32, nullptr, nullptr, read_sum,
                                 quantize_row128, q8_gemm, kGemmMinRows, kGemmMaxRows, kGemmMaxRowsAmd,
                                 attn_scores, attn_mix, q4_gemm, q4_gemm_scratch_bytes, kQ4GemmMinRows};
  return &table;
#else
  return nullptr;
#endif
}

}  // namespace studio_qmm

#else  // not x86-64

namespace studio_qmm {
const KernelTable* avx2_table() { return nullptr; }
const KernelTable* avx2_vnni_table() { return nullptr; }
}  // namespace studio_qmm

#endif
