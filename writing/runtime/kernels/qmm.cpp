// Fused dequantise-and-multiply for weight-only int8 / int4 (and plain bf16) linear layers: the
// driver. y[M, N] = x[M, K] @ W[N, K]^T with W quantised (formats: qmm.h), x bf16/fp32.
//
// Decode (M = 1) is bound by memory bandwidth: every weight is read once per token, so bytes per
// weight decide speed. Like llama.cpp's Q8_0/Q4 paths, each row of x is quantised to int8 in
// blocks of 32 with one fp32 scale per block, and the inner loop is an integer dot product per
// block followed by one fp32 scale-and-accumulate per 32 weights.
// Prompts (M > 1) on the AVX2 paths: an int8 GEMM (q8_gemm), register-blocked over x rows and
// weight rows, with x in blocks of 128, and an int4 GEMM (q4_gemm) over the stored strips of 8 rows
// (qmm_avx2.inc says why and from how many rows). The avx512 path has neither: its prompts are
// dequantised for oneDNN's native bf16 GEMM (writing/runtime/quant.py).
//
// Instruction paths, all compiled into this one extension and chosen at run time (set_path, from
// writing/runtime/kernels/__init__.py, which reads the CPU flags):
//   avx512     AVX512-VNNI + AVX512-BF16 (qmm_avx512.cpp)
//   avx2_vnni  AVX2 + FMA + F16C + AVX-VNNI (qmm_avx2.cpp, 256-bit vpdpbusd)
//   avx2       AVX2 + FMA + F16C (qmm_avx2.cpp, vpmaddubsw + vpmaddwd)
// This file is compiled for the baseline architecture only: it never executes a wide instruction
// itself, and set_path refuses a path the CPU cannot run (checked again here with CPUID, whatever
// Python was told). On non-x86 machines no path is built and every op says so.
//
// Threads: at::parallel_for over tiles of output rows (torch's pool, shared with its GEMMs).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "qmm.h"

namespace studio_qmm {
namespace {

constexpr int64_t kTileRows = 64;  // output rows per work item: their weights stay in L2 while x streams

// "amd", "intel" or "other", from CPUID: prompt routing depends on the vendor's execution ports
// (qmm_avx2.inc), not on the flags /proc/cpuinfo shows, so an imitated CPU keeps this machine's.
std::string cpu_vendor() {
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(STUDIO_QMM_NO_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_is("amd")) return "amd";
  if (__builtin_cpu_is("intel")) return "intel";
#endif
  return "other";
}

// The row range [min, max] q8_mm multiplies on the path's int8 GEMM (max 0: no limit; {0, 0}: no GEMM):
// the path's own, for this CPU's vendor, or from STUDIO_QMM_GEMM_MIN_ROWS rows up (no upper limit) where
// that is set (the bench and the tests compare the routes with it; read per call, so a test can change it).
struct RowRange {
  int64_t min, max;
};

// STUDIO_QMM_GEMM_MIN_ROWS as a row count (at least 1), 0 where it is unset: it forces both GEMMs.
int64_t forced_gemm_rows() {
  const char* v = std::getenv("STUDIO_QMM_GEMM_MIN_ROWS");
  return v ? std::max<int64_t>(1, std::atoll(v)) : 0;
}

RowRange gemm_rows(const KernelTable& t) {
  if (!t.q8_gemm) return {0, 0};
  if (const int64_t forced = forced_gemm_rows()) return {forced, 0};
  static const bool amd = cpu_vendor() == "amd";
  return {t.q8_gemm_min_rows, amd ? t.q8_gemm_max_rows_amd : t.q8_gemm_max_rows};
}

bool gemm_for(const KernelTable& t, int64_t M) {
  const RowRange range = gemm_rows(t);
  return range.min > 0 && M >= range.min && (range.max == 0 || M <= range.max);
}

// From how many rows q4_mm uses the path's int4 GEMM (0: none), which has no upper limit on any vendor
// (qmm_avx2.inc).
int64_t q4_gemm_from_rows(const KernelTable& t) {
  if (!t.q4_gemm) return 0;
  const int64_t forced = forced_gemm_rows();
  return forced ? forced : t.q4_gemm_min_rows;
}
constexpr int64_t kGemmChunkBytes = 256 * 1024;  // x rows per GEMM chunk: this many bytes of x and |x|
constexpr int64_t kMinBytesPerThread = 256 * 1024;  // below this a thread wake-up costs more than it saves
// x rows per int4 GEMM chunk, at least: each chunk unpacks the weights again (8 K bytes a strip). At K = 9728
// (the MLP's down projection) kGemmChunkBytes alone gives 12 rows, and 512 rows took 92 ms; 48 rows a chunk
// 68 ms, 128 rows 62 ms (bench.layers --format int4, AMD Zen 5 as AVX2, 2 threads, 2026-12-03).
constexpr int64_t kQ4MinChunk = 128;

const char* const kPathNames[] = {"avx512", "avx2_vnni", "avx2"};

const KernelTable* table_for(const std::string& name) {
  if (name == "avx512") return avx512_table();
  if (name == "avx2_vnni") return avx2_vnni_table();
  if (name == "avx2") return avx2_table();
  return nullptr;
}

// What CPUID says (with the OS's register-state support), independent of /proc/cpuinfo.
std::string cpu_lacks(const std::string& name) {
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(STUDIO_QMM_NO_X86)
  __builtin_cpu_init();
  std::string missing;
  auto need = [&](bool ok, const char* flag) {
    if (!ok) missing += (missing.empty() ? "" : ", ") + std::string(flag);
  };
  need(__builtin_cpu_supports("avx2"), "avx2");
  need(__builtin_cpu_supports("fma"), "fma");
  need(__builtin_cpu_supports("f16c"), "f16c");
  if (name == "avx2_vnni") need(__builtin_cpu_supports("avxvnni"), "avx_vnni");
  if (name == "avx512") {
    need(__builtin_cpu_supports("avx512f"), "avx512f");
    need(__builtin_cpu_supports("avx512bw"), "avx512bw");
    need(__builtin_cpu_supports("avx512vl"), "avx512vl");
    need(__builtin_cpu_supports("avx512dq"), "avx512dq");
    need(__builtin_cpu_supports("avx512vnni"), "avx512_vnni");
    need(__builtin_cpu_supports("avx512bf16"), "avx512_bf16");
  }
  return missing;
#else
  (void)name;
  return "an x86-64 CPU";
#endif
}

std::atomic<const KernelTable*> g_active{nullptr};

const KernelTable& active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  TORCH_CHECK(t != nullptr, "studio_qmm: no kernel path selected (call studio_qmm::set_path first)");
  return *t;
}

void set_path(const std::string& name) {
  const KernelTable* t = table_for(name);
  TORCH_CHECK(t != nullptr, "studio_qmm: path '", name, "' is not built into this extension (built: ",
              avx512_table() ? "avx512 " : "", avx2_vnni_table() ? "avx2_vnni " : "", avx2_table() ? "avx2" : "", ")");
  const std::string missing = cpu_lacks(name);
  TORCH_CHECK(missing.empty(), "studio_qmm: this CPU cannot run the ", name, " path: it lacks ", missing);
  g_active.store(t, std::memory_order_release);
}

std::string active_path() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  return t ? t->name : "";
}

std::vector<std::string> built_paths() {
  std::vector<std::string> out;
  for (const char* name : kPathNames) {
    if (table_for(name)) out.emplace_back(name);
  }
  return out;
}

// Tiles per parallel chunk: small layers run on one thread (on a busy machine every parallel
// region waits for its slowest, possibly descheduled, thread).
int64_t tile_grain(int64_t tile_bytes, int64_t M) {
  return std::max<int64_t>(1, kMinBytesPerThread / std::max<int64_t>(1, tile_bytes * M));
}

struct QuantizedX {
  std::vector<int8_t> q;  // [M, K]
  std::vector<float> dxv;  // [M, K / 4]
  std::vector<float> xs;  // [M, K / 32]
  std::vector<float> c128;  // [M]
};

QuantizedX quantize_x(const KernelTable& t, const at::Tensor& x, int64_t M, int64_t K) {
  QuantizedX r;
  r.q.resize(M * K);
  r.dxv.resize(M * K / 4);
  r.xs.resize(M * K / kBlock);
  r.c128.resize(M);
  const at::Tensor xf = x.to(at::kFloat).contiguous();
  const float* xp = xf.data_ptr<float>();
  at::parallel_for(0, M, std::max<int64_t>(16, 65536 / K), [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      r.c128[m] = t.quantize_row(xp + m * K, K, r.q.data() + m * K, r.dxv.data() + m * K / 4,
                                 r.xs.data() + m * K / kBlock);
    }
  });
  return r;
}

void check_x(const at::Tensor& x, int64_t K) {
  TORCH_CHECK(x.dim() == 2, "x must be 2-D [M, K]");
  TORCH_CHECK(x.size(1) == K, "x has ", x.size(1), " columns, weight expects ", K);
  TORCH_CHECK(K % 128 == 0, "K must be a multiple of 128, got ", K);
}

void check_q4(const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn) {
  TORCH_CHECK(w.scalar_type() == at::kByte && w.is_contiguous(), "w must be contiguous uint8 [N, K/2]");
  TORCH_CHECK(d.scalar_type() == at::kHalf && mn.scalar_type() == at::kHalf && d.is_contiguous() &&
                  mn.is_contiguous(),
              "scales and offsets must be contiguous fp16 [N, K/32]");
  TORCH_CHECK(d.size(0) == w.size(0) && d.size(1) == w.size(1) * 2 / kBlock && mn.sizes() == d.sizes(),
              "scales must be [N, K/32]");
  TORCH_CHECK(w.size(0) % 8 == 0, "int4 weights come in strips of 8 rows (quant.quantize_int4 pads N), got N = ",
              w.size(0));
}

const uint16_t* u16(const at::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data_ptr()); }

// A GEMM's work: x `chunk` rows at a time, and for each chunk the 64-row weight tiles spread over torch's
// threads; run(tile_begin, tile_end, m0, rows) multiplies tiles [tile_begin, tile_end) by x rows [m0, m0 + rows).
template <typename Run>
void for_chunks_and_tiles(int64_t N, int64_t M, int64_t chunk, int64_t tile_bytes, const Run& run) {
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    at::parallel_for(0, tiles, tile_grain(tile_bytes, rows),
                     [&](int64_t begin, int64_t end) { run(begin, end, m0, rows); });
  }
}

// Prompt rows on a path with an int8 GEMM (q8_gemm): x quantised in blocks of 128, then every
// weight tile against all rows.
at::Tensor q8_gemm_mm(const KernelTable& t, const at::Tensor& x, const at::Tensor& w, const at::Tensor& scales) {
  const int64_t N = w.size(0), K = w.size(1), M = x.size(0), nb = K / 128;
  std::vector<int8_t> xq(M * K);
  std::vector<uint8_t> ax(M * K);
  std::vector<float> dx(M * nb), c128(M);
  const at::Tensor xf = x.to(at::kFloat).contiguous();
  const float* xp = xf.data_ptr<float>();
  at::parallel_for(0, M, std::max<int64_t>(16, 65536 / K), [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      c128[m] = t.quantize_row128(xp + m * K, K, xq.data() + m * K, ax.data() + m * K, dx.data() + m * nb);
    }
  });
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const int8_t* wp = w.data_ptr<int8_t>();
  const float* sp = scales.data_ptr<float>();
  // x a chunk of rows at a time, so that a chunk (int8 x and |x|, 256 KB) and a 64-row weight tile
  // (160 KB at K = 2560) fit a 512 KB L2 together (Zen 3) while the tile is reused across the chunk; all
  // 512 rows of a prompt are 2.6 MB. Not measured where it matters: on this Xeon (2 MB L2) chunks and no
  // chunks timed the same within noise (bench.layers, 2 threads, 2026-12-02: 512 rows 113-130 ms either
  // way on the avx2_vnni path).
  const int64_t chunk = std::max<int64_t>(4, kGemmChunkBytes / (2 * K)) / 4 * 4;
  for_chunks_and_tiles(N, M, chunk, kTileRows * K, [&](int64_t begin, int64_t end, int64_t m0, int64_t rows) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n0 = tile * kTileRows, n1 = std::min(N, n0 + kTileRows);
      t.q8_gemm(wp, sp, K, n0, n1, rows, xq.data() + m0 * K, ax.data() + m0 * K, dx.data() + m0 * nb,
                c128.data() + m0, op + m0 * N, N);
    }
  });
  return out.to(x.scalar_type());
}

at::Tensor q8_mm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& scales) {
  TORCH_CHECK(w.scalar_type() == at::kChar && w.is_contiguous(), "w must be contiguous int8 [N, K]");
  TORCH_CHECK(scales.scalar_type() == at::kFloat && scales.is_contiguous(), "scales must be fp32 [N]");
  const KernelTable& t = active();
  const int64_t N = w.size(0), K = w.size(1), M = x.size(0);
  check_x(x, K);
  if (gemm_for(t, M)) return q8_gemm_mm(t, x, w, scales);
  const QuantizedX xq = quantize_x(t, x, M, K);
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const int8_t* wp = w.data_ptr<int8_t>();
  const float* sp = scales.data_ptr<float>();
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  at::parallel_for(0, tiles, tile_grain(kTileRows * K, M), [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n0 = tile * kTileRows, n1 = std::min(N, n0 + kTileRows);
      for (int64_t m = 0; m < M; ++m) {
        t.q8_rows(wp, sp, K, n0, n1, xq.q.data() + m * K, xq.dxv.data() + m * K / 4, xq.c128[m], op + m * N);
      }
    }
  });
  return out.to(x.scalar_type());
}

// Prompt rows on a path with an int4 GEMM: x quantised as for the GEMV, then each 64-row weight tile
// against a chunk of x rows (as q8_gemm_mm), every thread with its own unpacking buffer.
at::Tensor q4_gemm_mm(const KernelTable& t, const QuantizedX& xq, const at::Tensor& w, const at::Tensor& d,
                      const at::Tensor& mn, int64_t M, at::Tensor out) {
  const int64_t N = w.size(0), K = w.size(1) * 2, ng = K / kBlock;
  float* op = out.data_ptr<float>();
  const uint8_t* wp = w.data_ptr<uint8_t>();
  const int64_t chunk = std::max<int64_t>(kQ4MinChunk, kGemmChunkBytes / (2 * K)) / 4 * 4;
  for_chunks_and_tiles(N, M, chunk, kTileRows * K / 2, [&](int64_t begin, int64_t end, int64_t m0, int64_t rows) {
    std::vector<uint8_t> scratch(t.q4_gemm_scratch_bytes(K));
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n0 = tile * kTileRows, n1 = std::min(N, n0 + kTileRows);
      t.q4_gemm(wp, u16(d), u16(mn), K, n0, n1, rows, xq.q.data() + m0 * K, xq.dxv.data() + m0 * K / 4,
                xq.xs.data() + m0 * ng, op + m0 * N, N, scratch.data());
    }
  });
  return out;
}

at::Tensor q4_mm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn) {
  check_q4(w, d, mn);
  const KernelTable& t = active();
  const int64_t N = w.size(0), K = w.size(1) * 2, M = x.size(0);
  check_x(x, K);
  const QuantizedX xq = quantize_x(t, x, M, K);
  const int64_t gemm_from = q4_gemm_from_rows(t);
  if (gemm_from > 0 && M >= gemm_from) {
    return q4_gemm_mm(t, xq, w, d, mn, M, at::empty({M, N}, x.options().dtype(at::kFloat))).to(x.scalar_type());
  }
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const uint8_t* wp = w.data_ptr<uint8_t>();
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  at::parallel_for(0, tiles, tile_grain(kTileRows * K / 2, M), [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n0 = tile * kTileRows, n1 = std::min(N, n0 + kTileRows);
      for (int64_t m = 0; m < M; ++m) {
        t.q4_rows(wp, u16(d), u16(mn), K, n0, n1, xq.q.data() + m * K, xq.dxv.data() + m * K / 4,
                  xq.xs.data() + m * K / kBlock, op + m * N);
      }
    }
  });
  return out.to(x.scalar_type());
}

// bf16 weights, no quantisation; x is used as bf16 (the layer's input already is).
at::Tensor bf16_mm(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(w.scalar_type() == at::kBFloat16 && w.is_contiguous(), "w must be contiguous bf16 [N, K]");
  const KernelTable& t = active();
  const int64_t N = w.size(0), K = w.size(1), M = x.size(0);
  check_x(x, K);
  const at::Tensor xb = x.to(at::kBFloat16).contiguous();
  at::Tensor out = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* op = out.data_ptr<float>();
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  at::parallel_for(0, tiles, tile_grain(kTileRows * K * 2, M), [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n0 = tile * kTileRows, n1 = std::min(N, n0 + kTileRows);
      for (int64_t m = 0; m < M; ++m) t.bf16_rows(u16(w), K, n0, n1, u16(xb) + m * K, op + m * N);
    }
  });
  return out.to(x.scalar_type());
}

// Dequantise into `out`, bf16 or fp32 [N, K]: a reused buffer (a fresh 50-100 MB allocation per
// layer costs more in page faults than the dequantisation itself). Prompts use it: bf16 + oneDNN's
// GEMM where the CPU has native bf16, fp32 + torch's fp32 GEMM where it has not.
void check_out(const at::Tensor& out, int64_t N, int64_t K) {
  TORCH_CHECK((out.scalar_type() == at::kBFloat16 || out.scalar_type() == at::kFloat) && out.is_contiguous() &&
                  out.dim() == 2 && out.size(0) == N && out.size(1) == K,
              "out must be contiguous bf16 or fp32 [", N, ", ", K, "]");
}

// fp32 rows -> bf16, round to nearest even (for tables without a native bf16 dequantiser).
void round_rows(const float* src, int64_t count, at::BFloat16* dst) {
  for (int64_t i = 0; i < count; ++i) dst[i] = at::BFloat16(src[i]);
}

void q8_dequant_into(const at::Tensor& w, const at::Tensor& scales, const at::Tensor& out) {
  TORCH_CHECK(w.scalar_type() == at::kChar && w.is_contiguous() && scales.scalar_type() == at::kFloat &&
                  scales.is_contiguous(), "w must be contiguous int8 [N, K], scales fp32 [N]");
  const KernelTable& t = active();
  const int64_t N = w.size(0), K = w.size(1);
  check_out(out, N, K);
  const int8_t* wp = w.data_ptr<int8_t>();
  const float* sp = scales.data_ptr<float>();
  at::parallel_for(0, N, 64, [&](int64_t begin, int64_t end) {
    if (out.scalar_type() == at::kFloat) {
      t.q8_dequant_f32(wp, sp, K, begin, end, out.data_ptr<float>());
    } else if (t.q8_dequant_bf16) {
      t.q8_dequant_bf16(wp, sp, K, begin, end, reinterpret_cast<uint16_t*>(out.data_ptr()));
    } else {
      std::vector<float> row(K);
      for (int64_t n = begin; n < end; ++n) {
        t.q8_dequant_f32(wp + n * K, sp + n, K, 0, 1, row.data());
        round_rows(row.data(), K, out.data_ptr<at::BFloat16>() + n * K);
      }
    }
  });
}

void q4_dequant_into(const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn, const at::Tensor& out) {
  check_q4(w, d, mn);
  const KernelTable& t = active();
  const int64_t N = w.size(0), K = w.size(1) * 2;
  check_out(out, N, K);
  const uint8_t* wp = w.data_ptr<uint8_t>();
  at::parallel_for(0, N / 8, 8, [&](int64_t begin, int64_t end) {  // strips of 8 rows
    const int64_t n0 = begin * 8, n1 = end * 8;
    if (out.scalar_type() == at::kFloat) {
      t.q4_dequant_f32(wp, u16(d), u16(mn), K, n0, n1, out.data_ptr<float>());
    } else if (t.q4_dequant_bf16) {
      t.q4_dequant_bf16(wp, u16(d), u16(mn), K, n0, n1, reinterpret_cast<uint16_t*>(out.data_ptr()));
    } else {
      std::vector<float> strip(8 * K);
      for (int64_t n = n0; n < n1; n += 8) {  // strip n / 8 on its own: its bytes start at row n (qmm.h)
        const int64_t scales_at = n * (K / kBlock);
        t.q4_dequant_f32(wp + n * (K / 2), u16(d) + scales_at, u16(mn) + scales_at, K, 0, 8, strip.data());
        round_rows(strip.data(), 8 * K, out.data_ptr<at::BFloat16>() + n * K);
      }
    }
  });
}

at::Tensor q8_dequant(const at::Tensor& w, const at::Tensor& scales) {
  at::Tensor out = at::empty({w.size(0), w.size(1)}, w.options().dtype(at::kBFloat16));
  q8_dequant_into(w, scales, out);
  return out;
}

at::Tensor q4_dequant(const at::Tensor& w, const at::Tensor& d, const at::Tensor& mn) {
  at::Tensor out = at::empty({w.size(0), w.size(1) * 2}, w.options().dtype(at::kBFloat16));
  q4_dequant_into(w, d, mn, out);
  return out;
}

// Whether q8_mm multiplies `rows` rows on the int8 GEMM (Python then sends long prompts to q8_mm
// rather than dequantising the layer for torch's GEMM).
bool q8_uses_gemm(int64_t rows) { return gemm_for(active(), rows); }
// The same for q4_mm: from this many rows on the int4 GEMM (0: the path has none).
int64_t q4_gemm_from() { return q4_gemm_from_rows(active()); }
std::vector<int64_t> q8_gemm_rows() {
  const RowRange range = gemm_rows(active());
  return {range.min, range.max};
}

// The decode step's attention (writing/runtime/fastpath.py): q [1, Hq, 1, D] dense fp32, k and v [1, Hkv, T, D]
// fp32 or bf16 with contiguous rows and any head stride (views of the in-place cache's buffers,
// writing/runtime/kvcache.py). attn_scores -> [1, Hkv, Hq / Hkv, T] fp32, scaled; attn_mix(p, v) -> [1, Hq, 1, D]
// fp32.
bool attn_available() { return active().attn_scores != nullptr; }

void check_cache(const at::Tensor& c, const char* name) {
  TORCH_CHECK((c.scalar_type() == at::kFloat || c.scalar_type() == at::kBFloat16) && c.dim() == 4 &&
                  c.size(0) == 1 && c.stride(3) == 1 && c.stride(2) == c.size(3) && c.size(3) % 8 == 0,
              name, " must be fp32 or bf16 [1, heads, T, D] with contiguous rows of D (a multiple of 8) values");
}

const KernelTable& attention_table() {
  const KernelTable& t = active();
  TORCH_CHECK(t.attn_scores != nullptr && t.attn_mix != nullptr, "studio_qmm: path '", t.name,
              "' has no attention kernel");
  return t;
}

at::Tensor attn_scores(const at::Tensor& q, const at::Tensor& k, double scale) {
  const KernelTable& t = attention_table();
  check_cache(k, "k");
  const int64_t H = k.size(1), T = k.size(2), D = k.size(3);
  TORCH_CHECK(q.scalar_type() == at::kFloat && q.is_contiguous() && q.dim() == 4 && q.size(0) == 1 &&
                  q.size(2) == 1 && q.size(3) == D && q.size(1) % H == 0,
              "q must be contiguous fp32 [1, heads, 1, ", D, "] with a multiple of ", H, " heads");
  const int64_t G = q.size(1) / H;
  at::Tensor scores = at::empty({1, H, G, T}, q.options());
  const float* qp = q.data_ptr<float>();
  const bool bf16 = k.scalar_type() == at::kBFloat16;
  float* sp = scores.data_ptr<float>();
  at::parallel_for(0, H, 1, [&](int64_t h0, int64_t h1) {
    t.attn_scores(qp, k.data_ptr(), bf16, k.stride(1), h0, h1, T, D, G, static_cast<float>(scale), sp);
  });
  return scores;
}

at::Tensor attn_mix(const at::Tensor& p, const at::Tensor& v) {
  const KernelTable& t = attention_table();
  check_cache(v, "v");
  const int64_t H = v.size(1), T = v.size(2), D = v.size(3);
  TORCH_CHECK(p.scalar_type() == at::kFloat && p.is_contiguous() && p.dim() == 4 && p.size(0) == 1 &&
                  p.size(1) == H && p.size(3) == T,
              "p must be contiguous fp32 [1, ", H, ", group, ", T, "]");
  const int64_t G = p.size(2);
  at::Tensor out = at::empty({1, H * G, 1, D}, p.options());
  const float* pp = p.data_ptr<float>();
  const bool bf16 = v.scalar_type() == at::kBFloat16;
  float* op = out.data_ptr<float>();
  at::parallel_for(0, H, 1, [&](int64_t h0, int64_t h1) {
    t.attn_mix(pp, v.data_ptr(), bf16, v.stride(1), h0, h1, T, D, G, op);
  });
  return out;
}

// Sum of a large int64 buffer: the machine's read bandwidth with the active path's loads.
int64_t read_sum(const at::Tensor& buf) {
  TORCH_CHECK(buf.scalar_type() == at::kLong && buf.is_contiguous(), "buf must be contiguous int64");
  const KernelTable& t = active();
  const int64_t n = buf.numel() / 32 * 32;
  const int64_t* p = buf.data_ptr<int64_t>();
  std::atomic<int64_t> total{0};
  at::parallel_for(0, n / 32, 4096, [&](int64_t begin, int64_t end) {
    total += t.read_sum(p + begin * 32, (end - begin) * 32);
  });
  return total.load();
}

}  // namespace
}  // namespace studio_qmm

TORCH_LIBRARY(studio_qmm, m) {
  m.def("q8_mm(Tensor x, Tensor w, Tensor scales) -> Tensor");
  m.def("q4_mm(Tensor x, Tensor w, Tensor d, Tensor mn) -> Tensor");
  m.def("q8_dequant(Tensor w, Tensor scales) -> Tensor");
  m.def("q4_dequant(Tensor w, Tensor d, Tensor mn) -> Tensor");
  m.def("read_sum(Tensor buf) -> int");
  m.def("bf16_mm(Tensor x, Tensor w) -> Tensor");
  m.def("q8_dequant_into(Tensor w, Tensor scales, Tensor(a!) out) -> ()");
  m.def("q4_dequant_into(Tensor w, Tensor d, Tensor mn, Tensor(a!) out) -> ()");
  // Ops without tensor arguments: one kernel for every dispatch key (nothing to dispatch on).
  m.def("set_path(str name) -> ()", &studio_qmm::set_path);
  m.def("cpu_lacks(str name) -> str", &studio_qmm::cpu_lacks);
  m.def("active_path() -> str", &studio_qmm::active_path);
  m.def("q8_uses_gemm(int rows) -> bool", &studio_qmm::q8_uses_gemm);
  m.def("q8_gemm_rows() -> int[]", &studio_qmm::q8_gemm_rows);
  m.def("q4_gemm_from() -> int", &studio_qmm::q4_gemm_from);
  m.def("cpu_vendor() -> str", &studio_qmm::cpu_vendor);
  m.def("built_paths() -> str[]", &studio_qmm::built_paths);
  m.def("attn_available() -> bool", &studio_qmm::attn_available);
  m.def("attn_scores(Tensor q, Tensor k, float scale) -> Tensor");
  m.def("attn_mix(Tensor p, Tensor v) -> Tensor");
}

TORCH_LIBRARY_IMPL(studio_qmm, CPU, m) {
  m.impl("q8_mm", &studio_qmm::q8_mm);
  m.impl("q4_mm", &studio_qmm::q4_mm);
  m.impl("q8_dequant", &studio_qmm::q8_dequant);
  m.impl("q4_dequant", &studio_qmm::q4_dequant);
  m.impl("read_sum", &studio_qmm::read_sum);
  m.impl("bf16_mm", &studio_qmm::bf16_mm);
  m.impl("q8_dequant_into", &studio_qmm::q8_dequant_into);
  m.impl("q4_dequant_into", &studio_qmm::q4_dequant_into);
  m.impl("attn_scores", &studio_qmm::attn_scores);
  m.impl("attn_mix", &studio_qmm::attn_mix);
}
