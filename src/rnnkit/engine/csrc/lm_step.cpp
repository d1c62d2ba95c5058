// One token step of a stacked LSTM language model in one call: rnnkit's fast sampler (engine/lm_step.py).
//
// At batch 1 a PyTorch step of a 2x512 LSTM LM is about thirty small kernels (embedding, two GEMVs and
// the pointwise cell per layer, the head), so sampling is bound by per-op overhead, not by arithmetic.
// This op does the whole stack at once: per layer one pass over the weights (a matrix-vector product
// with the gate rows of a block of hidden units, followed at once by the cell's pointwise math on them,
// while they are in L1), split across PyTorch's intra-op threads by blocks of hidden units, then the
// output head. Weights are float32 or bfloat16 (half the bytes to stream per token: the step is bound
// by how fast the weights can be read); the state h, c and the logits are float32.
//
//   ids (B,) int64; h, c (L, B, H) float32, updated in place; logits (B, V) float32, written
//   layer 0: gates = table[id] + W0 @ h0          with table (V, 4H) = emb @ W_ih0^T + biases (folded)
//        or  gates = b0 + W0 @ [emb[id]; h0]      with W0 = [W_ih0 | W_hh0] (4H, E + H), when no table
//   layer l: gates = b_l + W_l @ [h_{l-1}; h_l]   with W_l = [W_ih_l | W_hh_l] (4H, 2H)
//   gate rows i, f, g, o as in torch.nn.LSTM;  c = f c + i tanh(g);  h = o tanh(c)
//   logits = head_w @ h_{L-1} + head_b            head_w (V, H)

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

inline float bf16_to_float(uint16_t b) { return __builtin_bit_cast(float, static_cast<uint32_t>(b) << 16); }

inline uint16_t float_to_bf16(float f) {  // round to nearest even, as c10::BFloat16
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? uint16_t(0x7FC0) : static_cast<uint16_t>(rounded);
}

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// dot(w, x) over K for float32 weights.
inline float dot(const float* __restrict__ w, const float* __restrict__ x, const uint16_t* /*xb*/, int64_t K) {
  int64_t k = 0;
  float sum = 0.0f;
#if defined(__AVX512F__)
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (; k + 32 <= K; k += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 16), _mm512_loadu_ps(x + k + 16), acc1);
  }
  sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#endif
  for (; k < K; ++k) sum += w[k] * x[k];
  return sum;
}

// dot(w, x) over K for bfloat16 weights; x is given in both float32 and bfloat16 (xb).
inline float dot(const uint16_t* __restrict__ w, const float* __restrict__ x, const uint16_t* __restrict__ xb,
                 int64_t K) {
  int64_t k = 0;
  float sum = 0.0f;
#if defined(__AVX512BF16__)
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (; k + 64 <= K; k += 64) {
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(w + k), (__m512bh)_mm512_loadu_si512(xb + k));
    acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(w + k + 32),
                            (__m512bh)_mm512_loadu_si512(xb + k + 32));
  }
  sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#elif defined(__AVX512F__)
  __m512 acc = _mm512_setzero_ps();
  for (; k + 16 <= K; k += 16) {
    const __m512i wi = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(w + k))), 16);
    acc = _mm512_fmadd_ps(_mm512_castsi512_ps(wi), _mm512_loadu_ps(x + k), acc);
  }
  sum = _mm512_reduce_add_ps(acc);
#endif
  (void)xb;
  for (; k < K; ++k) sum += bf16_to_float(w[k]) * x[k];
  return sum;
}

void check(bool ok, const char* what) { TORCH_CHECK(ok, "rnnkit lstm_lm_step: ", what); }

// Hidden units per task: 4 gate rows each, so 16 units stream 64 weight rows.
constexpr int64_t kUnits = 16;

template <typename W>
void step(const int64_t* ids, const float* table, const float* emb, int64_t E, const std::vector<const W*>& weights,
          const std::vector<const float*>& biases, const W* head_w, const float* head_b, float* h, float* c,
          float* logits, int64_t L, int64_t B, int64_t H, int64_t V) {
  std::vector<float> x;
  std::vector<uint16_t> xb;
  for (int64_t l = 0; l < L; ++l) {
    const bool folded = l == 0 && table != nullptr;
    const int64_t in = l == 0 ? (folded ? 0 : E) : H, K = in + H;
    x.resize(B * K);
    xb.resize(B * K);
    for (int64_t b = 0; b < B; ++b) {  // x_b = [layer input; old h_l]
      float* xr = x.data() + b * K;
      const float* input = l == 0 ? emb + ids[b] * E : h + ((l - 1) * B + b) * H;
      for (int64_t k = 0; k < in; ++k) xr[k] = input[k];
      for (int64_t k = 0; k < H; ++k) xr[in + k] = h[(l * B + b) * H + k];
      for (int64_t k = 0; k < K; ++k) xb[b * K + k] = float_to_bf16(xr[k]);
    }
    const W* w = weights[l];
    const float* bias = folded ? nullptr : biases[l];
    at::parallel_for(0, H, kUnits, [&](int64_t begin, int64_t end) {
      for (int64_t b = 0; b < B; ++b) {
        const float* xr = x.data() + b * K;
        const uint16_t* xbr = xb.data() + b * K;
        const float* base = folded ? table + ids[b] * 4 * H : bias;
        float* hr = h + (l * B + b) * H;
        float* cr = c + (l * B + b) * H;
        for (int64_t j = begin; j < end; ++j) {
          float g4[4];
          for (int gate = 0; gate < 4; ++gate) {
            const int64_t row = gate * H + j;
            g4[gate] = base[row] + dot(w + row * K, xr, xbr, K);
          }
          const float cj = sigmoid(g4[1]) * cr[j] + sigmoid(g4[0]) * std::tanh(g4[2]);
          cr[j] = cj;
          hr[j] = sigmoid(g4[3]) * std::tanh(cj);
        }
      }
    });
  }
  std::vector<uint16_t> hb(H);
  for (int64_t b = 0; b < B; ++b) {
    const float* top = h + ((L - 1) * B + b) * H;
    for (int64_t k = 0; k < H; ++k) hb[k] = float_to_bf16(top[k]);
    for (int64_t v = 0; v < V; ++v) logits[b * V + v] = head_b[v] + dot(head_w + v * H, top, hb.data(), H);
  }
}

void lstm_lm_step(const at::Tensor& ids, const std::optional<at::Tensor>& table, const at::Tensor& embedding,
                  at::TensorList weights, at::TensorList biases, const at::Tensor& head_w, const at::Tensor& head_b,
                  const at::Tensor& h, const at::Tensor& c, const at::Tensor& logits) {
  const int64_t L = h.size(0), B = h.size(1), H = h.size(2), V = head_w.size(0), E = embedding.size(1);
  const auto wtype = head_w.scalar_type();
  check(wtype == at::kFloat || wtype == at::kBFloat16, "weights must be float32 or bfloat16");
  check(ids.dim() == 1 && ids.size(0) == B && ids.scalar_type() == at::kLong && ids.is_contiguous(),
        "ids must be a contiguous int64 tensor of shape (B,)");
  check(h.scalar_type() == at::kFloat && h.is_contiguous() && c.sizes() == h.sizes() &&
            c.scalar_type() == at::kFloat && c.is_contiguous(),
        "h and c must be contiguous float32 tensors of shape (L, B, H)");
  check(logits.scalar_type() == at::kFloat && logits.is_contiguous() && logits.dim() == 2 && logits.size(0) == B &&
            logits.size(1) == V,
        "logits must be a contiguous float32 tensor of shape (B, V)");
  check(static_cast<int64_t>(weights.size()) == L && static_cast<int64_t>(biases.size()) == L,
        "one weight matrix and one bias per layer");
  check(head_w.is_contiguous() && head_w.dim() == 2 && head_w.size(1) == H && head_b.scalar_type() == at::kFloat &&
            head_b.numel() == V,
        "head_w must be (V, H) and head_b (V,) float32");
  const bool folded = table.has_value() && table->defined();
  check(embedding.scalar_type() == at::kFloat && embedding.is_contiguous() && embedding.dim() == 2,
        "embedding must be a contiguous float32 (V, E) matrix");
  if (folded)
    check(table->scalar_type() == at::kFloat && table->is_contiguous() && table->dim() == 2 &&
              table->size(1) == 4 * H,
          "table must be a contiguous float32 (V, 4H) matrix");
  const int64_t vocab_rows = folded ? table->size(0) : embedding.size(0);
  const int64_t* id = ids.const_data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) check(id[b] >= 0 && id[b] < vocab_rows, "a token id is out of range");
  for (int64_t l = 0; l < L; ++l) {
    const int64_t K = (l == 0 ? (folded ? 0 : E) : H) + H;
    check(weights[l].scalar_type() == wtype && weights[l].is_contiguous() && weights[l].dim() == 2 &&
              weights[l].size(0) == 4 * H && weights[l].size(1) == K,
          "layer weights must be contiguous (4H, K) matrices of the head's dtype");
    check(biases[l].scalar_type() == at::kFloat && biases[l].numel() == 4 * H, "biases must be float32 (4H,)");
  }
  std::vector<const float*> bs;
  for (const auto& bias : biases) bs.push_back(bias.const_data_ptr<float>());
  const float* tab = folded ? table->const_data_ptr<float>() : nullptr;
  const float* emb = embedding.const_data_ptr<float>();
  if (wtype == at::kFloat) {
    std::vector<const float*> ws;
    for (const auto& w : weights) ws.push_back(w.const_data_ptr<float>());
    step<float>(id, tab, emb, E, ws, bs, head_w.const_data_ptr<float>(), head_b.const_data_ptr<float>(),
                h.mutable_data_ptr<float>(), c.mutable_data_ptr<float>(), logits.mutable_data_ptr<float>(), L, B, H, V);
  } else {
    std::vector<const uint16_t*> ws;
    for (const auto& w : weights) ws.push_back(reinterpret_cast<const uint16_t*>(w.const_data_ptr()));
    step<uint16_t>(id, tab, emb, E, ws, bs, reinterpret_cast<const uint16_t*>(head_w.const_data_ptr()),
                   head_b.const_data_ptr<float>(), h.mutable_data_ptr<float>(), c.mutable_data_ptr<float>(),
                   logits.mutable_data_ptr<float>(), L, B, H, V);
  }
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("lstm_lm_step(Tensor ids, Tensor? table, Tensor embedding, Tensor[] weights, Tensor[] biases, Tensor head_w, "
        "Tensor head_b, Tensor(a!) h, Tensor(b!) c, Tensor(c!) logits) -> ()");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) { m.impl("lstm_lm_step", lstm_lm_step); }
