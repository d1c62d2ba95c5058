// Fused pointwise kernels for one time step of rnnkit's bf16 LSTM (rnnkit/cells/fast_lstm.py).
//
// fast_lstm's time loop runs one GEMM per step; in Python the cell's pointwise math after it is
// about fifteen small PyTorch kernels, each a dispatch and a pass over the data. These two ops do
// a step's pointwise work in one vectorized pass each, with the formulas of that Python loop:
//
//   forward:  pre (B, 4H) bf16 pre-activations, gate blocks i f g o, the g block pre-scaled by 2
//             (tanh(a) = 2 sigmoid(2a) - 1, and the same trick for tanh(c));  c_prev (B, H) fp32
//             -> c_t (B, H) fp32, h_t (B, H) bf16 (rows may be strided), and pre copied to pre_out
//   backward: pre, c_prev, c_t of that step (the gates are recomputed from them, bit for bit as in
//             the forward, instead of being stored: 3x less memory traffic), dh (B, H) bf16,
//             dc (B, H) fp32 updated in place from dc_t to dc_{t-1} = f dc_t  ->  dgates (B, 4H) bf16,
//             and dgates added to dbias_rows (B, 4H) fp32, whose column sums are the bias gradient
//
// Built by rnnkit/cells/kernels.py with -O3 -march=native; the row loops are written so that the
// compiler vectorizes them (no libm calls, no fmin/fmax, restrict pointers), and rows are split
// across PyTorch's intra-op threads.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>

namespace {

__attribute__((always_inline)) inline float bf16_to_float(uint16_t b) {
  return __builtin_bit_cast(float, static_cast<uint32_t>(b) << 16);
}

// Round to nearest even, as c10::BFloat16; NaN stays NaN.
__attribute__((always_inline)) inline uint16_t float_to_bf16(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? uint16_t(0x7FC0) : static_cast<uint16_t>(rounded);
}

// exp(x) = 2^n e^r with n = round(x / ln 2), |r| <= ln(2) / 2 and e^r from its degree-6 Taylor
// polynomial (relative error below 3e-7, under fp32 sigmoid's own rounding in practice).
__attribute__((always_inline)) inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // ternaries vectorize; fmin/fmax do not
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = __builtin_fmaf(n, -0.693145751953125f, x);  // ln 2 in two parts (Cody-Waite)
  r = __builtin_fmaf(n, -1.428606765330187045e-06f, r);
  float p = 1.0f / 720.0f;
  p = __builtin_fmaf(p, r, 1.0f / 120.0f);
  p = __builtin_fmaf(p, r, 1.0f / 24.0f);
  p = __builtin_fmaf(p, r, 1.0f / 6.0f);
  p = __builtin_fmaf(p, r, 0.5f);
  p = __builtin_fmaf(p, r, 1.0f);
  p = __builtin_fmaf(p, r, 1.0f);
  return p * __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
}

__attribute__((always_inline)) inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// tanh(a) from sigmoid(2a): the g rows come pre-scaled by 2, and tanh(c_t) is computed the same way.
// The forward and the backward (which recomputes the gates) use these very expressions, so that
// they get the same bits.
__attribute__((always_inline)) inline float tanh_of_half(float two_a) { return 2.0f * sigmoid(two_a) - 1.0f; }

void forward_row(const int64_t H, const uint16_t* __restrict__ pre, const float* __restrict__ c_prev,
                 float* __restrict__ c, uint16_t* __restrict__ h, uint16_t* __restrict__ pre_out) {
  const uint16_t* __restrict__ pi = pre;
  const uint16_t* __restrict__ pf = pre + H;
  const uint16_t* __restrict__ pg = pre + 2 * H;
  const uint16_t* __restrict__ po = pre + 3 * H;
  for (int64_t j = 0; j < 4 * H; ++j) pre_out[j] = pre[j];
  for (int64_t j = 0; j < H; ++j) {
    const float i = sigmoid(bf16_to_float(pi[j]));
    const float f = sigmoid(bf16_to_float(pf[j]));
    const float g = tanh_of_half(bf16_to_float(pg[j]));
    const float o = sigmoid(bf16_to_float(po[j]));
    const float ct = f * c_prev[j] + i * g;
    c[j] = ct;
    h[j] = float_to_bf16(o * tanh_of_half(2.0f * ct));
  }
}

void backward_row(const int64_t H, const uint16_t* __restrict__ pre, const float* __restrict__ c_prev,
                  const float* __restrict__ c_t, const uint16_t* __restrict__ dh, float* __restrict__ dc,
                  uint16_t* __restrict__ dgates, float* __restrict__ db) {
  const uint16_t* __restrict__ pi = pre;
  const uint16_t* __restrict__ pf = pre + H;
  const uint16_t* __restrict__ pg = pre + 2 * H;
  const uint16_t* __restrict__ po = pre + 3 * H;
  uint16_t* __restrict__ gi = dgates;
  uint16_t* __restrict__ gf = dgates + H;
  uint16_t* __restrict__ gg = dgates + 2 * H;
  uint16_t* __restrict__ go = dgates + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    // the gates exactly as the forward computed them
    const float i = sigmoid(bf16_to_float(pi[j]));
    const float f = sigmoid(bf16_to_float(pf[j]));
    const float g = tanh_of_half(bf16_to_float(pg[j]));
    const float o = sigmoid(bf16_to_float(po[j]));
    const float tanh_c = tanh_of_half(2.0f * c_t[j]);
    const float d_h = bf16_to_float(dh[j]);
    const float h = o * tanh_c;
    const float d_o = d_h * (o * (1.0f - o) * tanh_c);
    const float d_c = dc[j] + d_h * (o - h * tanh_c);  // dc_t, including the path through h_t
    const float d_i = d_c * (i * (1.0f - i) * g);
    const float d_f = d_c * (f * (1.0f - f) * c_prev[j]);
    // d c_t / d(2 a_g) = i * d tanh(a_g) / d(2 a_g) = i * 2 s (1 - s) with s = sigmoid(2 a_g) = (g + 1) / 2
    const float d_g = d_c * (0.5f * (1.0f + g) * (1.0f - g) * i);
    gi[j] = float_to_bf16(d_i);
    gf[j] = float_to_bf16(d_f);
    gg[j] = float_to_bf16(d_g);
    go[j] = float_to_bf16(d_o);
    dc[j] = d_c * f;
  }
  // The bias gradient, summed over steps here (and over rows by the caller) from the bf16 dgates the
  // weight gradients use, while they are in L1; a separate loop, since gcc will not vectorize it fused.
  for (int64_t j = 0; j < 4 * H; ++j) db[j] += bf16_to_float(dgates[j]);
}

void check(const at::Tensor& t, const char* name, at::ScalarType dtype, int64_t rows, int64_t cols,
           bool strided_rows = false) {
  const bool ok = t.device().is_cpu() && t.scalar_type() == dtype && t.dim() == 2 && t.size(0) == rows &&
                  t.size(1) == cols && t.stride(1) == 1 && (strided_rows ? t.stride(0) >= cols : t.is_contiguous());
  TORCH_CHECK(ok, "rnnkit lstm kernel: ", name, " must be a ", strided_rows ? "row-major" : "contiguous", " CPU ",
              dtype == at::kBFloat16 ? "bfloat16" : "float32", " tensor of shape (", rows, ", ", cols, "), got ",
              t.scalar_type(), " ", t.sizes(), " with strides ", t.strides(), " on ", t.device());
}

// Rows per task: small enough to split a batch of 16+ across threads, large enough to amortize.
constexpr int64_t kGrain = 8;

void lstm_forward_step(const at::Tensor& pre, const at::Tensor& c_prev, const at::Tensor& c_out,
                       const at::Tensor& h_out, const at::Tensor& pre_out) {
  const int64_t B = pre.size(0), H = c_prev.size(1);
  check(pre, "pre", at::kBFloat16, B, 4 * H);
  check(c_prev, "c_prev", at::kFloat, B, H);
  check(c_out, "c_out", at::kFloat, B, H);
  check(h_out, "h_out", at::kBFloat16, B, H, /*strided_rows=*/true);
  check(pre_out, "pre_out", at::kBFloat16, B, 4 * H);
  const auto* P = reinterpret_cast<const uint16_t*>(pre.const_data_ptr());
  const float* C0 = c_prev.const_data_ptr<float>();
  float* C = c_out.mutable_data_ptr<float>();
  auto* Hs = reinterpret_cast<uint16_t*>(h_out.mutable_data_ptr());
  const int64_t h_stride = h_out.stride(0);
  auto* PO = reinterpret_cast<uint16_t*>(pre_out.mutable_data_ptr());
  at::parallel_for(0, B, kGrain, [=](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      forward_row(H, P + b * 4 * H, C0 + b * H, C + b * H, Hs + b * h_stride, PO + b * 4 * H);
  });
}

void lstm_backward_step(const at::Tensor& pre, const at::Tensor& c_prev, const at::Tensor& c_t, const at::Tensor& dh,
                        const at::Tensor& dc, const at::Tensor& dgates_out, const at::Tensor& dbias_rows) {
  const int64_t B = dh.size(0), H = dh.size(1);
  check(pre, "pre", at::kBFloat16, B, 4 * H);
  check(c_prev, "c_prev", at::kFloat, B, H);
  check(c_t, "c_t", at::kFloat, B, H);
  check(dh, "dh", at::kBFloat16, B, H);
  check(dc, "dc", at::kFloat, B, H);
  check(dgates_out, "dgates_out", at::kBFloat16, B, 4 * H);
  check(dbias_rows, "dbias_rows", at::kFloat, B, 4 * H);
  const auto* P = reinterpret_cast<const uint16_t*>(pre.const_data_ptr());
  const float* C0 = c_prev.const_data_ptr<float>();
  const float* C1 = c_t.const_data_ptr<float>();
  const auto* DH = reinterpret_cast<const uint16_t*>(dh.const_data_ptr());
  float* DC = dc.mutable_data_ptr<float>();
  auto* G = reinterpret_cast<uint16_t*>(dgates_out.mutable_data_ptr());
  float* DB = dbias_rows.mutable_data_ptr<float>();
  at::parallel_for(0, B, kGrain, [=](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      backward_row(H, P + b * 4 * H, C0 + b * H, C1 + b * H, DH + b * H, DC + b * H, G + b * 4 * H, DB + b * 4 * H);
  });
}

// Dropout masks from a counter-based generator: element e keeps (mask = scale) when 16 bits of
// splitmix64(seed, e / 4) are >= threshold, so P(keep) = 1 - threshold / 65536, and the mask is
// the same for the same seed whatever the number of threads.
__attribute__((always_inline)) inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Words [begin, end) of the mask, written from out[0].
template <typename T>
void mask_words(int64_t begin, int64_t end, uint64_t seed, uint32_t threshold, T keep, T* __restrict__ out) {
  for (int64_t w = begin; w < end; ++w) {
    const uint64_t r = splitmix64(seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(w + 1));
    for (int lane = 0; lane < 4; ++lane)
      out[4 * (w - begin) + lane] = ((r >> (16 * lane)) & 0xFFFFu) >= threshold ? keep : T(0);
  }
}

void dropout_mask(const at::Tensor& mask, int64_t seed, int64_t threshold, double scale) {
  TORCH_CHECK(mask.device().is_cpu() && mask.is_contiguous() &&
                  (mask.scalar_type() == at::kBFloat16 || mask.scalar_type() == at::kFloat),
              "rnnkit dropout_mask: mask must be a contiguous CPU bfloat16 or float32 tensor, got ", mask.scalar_type(),
              " ", mask.sizes(), " on ", mask.device());
  TORCH_CHECK(threshold >= 0 && threshold <= 65536, "rnnkit dropout_mask: threshold must be in [0, 65536]");
  const int64_t n = mask.numel(), words = n / 4;
  const auto thr = static_cast<uint32_t>(threshold);
  const auto s = static_cast<uint64_t>(seed);
  auto fill = [&](auto* out, auto keep) {
    at::parallel_for(0, words, 1 << 14,
                     [=](int64_t begin, int64_t end) { mask_words(begin, end, s, thr, keep, out + 4 * begin); });
    if (n % 4) {  // the last partial word
      decltype(keep) tail[4];
      mask_words(words, words + 1, s, thr, keep, tail);
      for (int64_t e = 4 * words; e < n; ++e) out[e] = tail[e - 4 * words];
    }
  };
  if (mask.scalar_type() == at::kFloat) {
    fill(mask.mutable_data_ptr<float>(), static_cast<float>(scale));
  } else {
    fill(reinterpret_cast<uint16_t*>(mask.mutable_data_ptr()), float_to_bf16(static_cast<float>(scale)));
  }
}

}  // namespace

TORCH_LIBRARY(rnnkit, m) {
  m.def("lstm_forward_step(Tensor pre, Tensor c_prev, Tensor(a!) c_out, Tensor(b!) h_out, Tensor(c!) pre_out) -> ()");
  m.def("dropout_mask(Tensor(a!) mask, int seed, int threshold, float scale) -> ()");
  m.def("lstm_backward_step(Tensor pre, Tensor c_prev, Tensor c_t, Tensor dh, Tensor(a!) dc, Tensor(b!) dgates_out, "
        "Tensor(c!) dbias_rows) -> ()");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("lstm_forward_step", lstm_forward_step);
  m.impl("lstm_backward_step", lstm_backward_step);
  m.impl("dropout_mask", dropout_mask);
}
