// The time loops of the fused HM-LSTM in C++, for the CPU (model/loops/cpp.py builds and calls them).
//
// Same equations, buffers and order as the Python loops (model/loops/python.py); what changes is
// that each layer step is one matrix product plus one pass over the rows, instead of some twenty
// tensor operations each paying the interpreter's toll. Rows of the batch are independent within a
// step, so the row passes run in parallel.
//
// The names are those of model/loops/contract.py: `Layout` holds the fields the Python Layout works
// out (nothing is derived again here), the entry points take ForwardInputs' and OutputGrads' fields
// as keyword arguments, and return structs with ForwardBuffers' and BackwardResult's field names.
//
// One layer step, forward:  gather_u -> (inference: compact_copy_rows) -> product -> cell_forward
//                backward:  cell_backward -> add_ln_param_grads -> product -> scatter_du
#include <torch/extension.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
// the AVX2 kernels (the blocked product, the batch-1 vector-matrix loop) need both; a portable build has neither
#if defined(__AVX2__) && defined(__FMA__)
#define HMLSTM_AVX2 1
#else
#define HMLSTM_AVX2 0
#endif
#include <ATen/Parallel.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

namespace {

// --- the contract ------------------------------------------------------------------------

struct Layout {
  std::vector<int64_t> sizes, offsets, rows, above, below, in_widths, ln_widths;
  std::vector<bool> has_z;
  int64_t ln = 0;      // 0 none, 1 the gates, 2 all rows
  bool nested = false;
  int64_t L() const { return static_cast<int64_t>(sizes.size()); }
  int64_t total() const { return offsets.empty() ? 0 : offsets.back() + sizes.back(); }
};

struct ForwardBuffers {
  at::Tensor H, C, Z, Zsoft, Zline;
  std::vector<at::Tensor> U, S, A, TC, Mean, Rstd;
};

struct BackwardResult {
  std::vector<at::Tensor> dS, dLNw, dLNb;
};

// --- arithmetic --------------------------------------------------------------------------

// x M for a matrix M fixed for the whole time loop and a small batch x (B, K), by one of three
// paths, each laying M out once per loop (a plain mm lays it out again at every step, which at
// batch 32 was about a fifth of the products' time):
//   "mkl-packed": MKL's packed GEMM (the op behind torch's mkl::_mkl_linear), fastest on Intel;
//   "blocked": our own AVX2 kernel below, fastest on AMD (where MKL re-copies M inside every product);
//   "mm": a plain mm: without MKL or AVX2, in float64, for a batch of a few rows (matrix-vector
//         products, 20-30% slower packed) and for loops too short to repay a layout (one character
//         typed into the app).
// Python sets the path (HMLSTM_STEP_PRODUCT, by default by the CPU's vendor: model/loops/cpp.py).
enum class ProductPath { kMm, kPacked, kBlocked };
ProductPath preferred_path = ProductPath::kPacked;

bool mkl_packed_available() {
  auto& dispatcher = c10::Dispatcher::singleton();
  return dispatcher.findSchema({"mkl::_mkl_linear", ""}).has_value() &&
         dispatcher.findSchema({"mkl::_mkl_reorder_linear_weight", ""}).has_value();
}

constexpr bool kBlockedBuilt = HMLSTM_AVX2;

// The path loops of this dtype, batch and length take; bench.throughput reports it.
ProductPath product_path(at::ScalarType dtype, int64_t B, int64_t steps) {
  if (preferred_path == ProductPath::kMm || dtype != at::kFloat || steps < 16 || B < 8) return ProductPath::kMm;
  if (preferred_path == ProductPath::kBlocked && kBlockedBuilt) return ProductPath::kBlocked;
  return mkl_packed_available() ? ProductPath::kPacked : ProductPath::kMm;  // also blocked in a portable build
}

const char* path_name(ProductPath p) {
  return p == ProductPath::kPacked ? "mkl-packed" : p == ProductPath::kBlocked ? "blocked" : "mm";
}

#if HMLSTM_AVX2
// The blocked kernel: M is laid out as panels of 24 columns (K x 24 each, contiguous, the last padded
// with zeros); a tile of 4 rows of x times one panel keeps its 4 x 3 vectors of sums in
// registers over all of K, reading per k three vectors of the panel and four numbers of x. The
// panels are split between threads; each panel stays in cache while every row tile of the batch
// passes over it.
constexpr int64_t kPanel = 24, kTileRows = 4;

at::Tensor pack_panels(const at::Tensor& M) {
  const int64_t K = M.size(0), N = M.size(1), P = (N + kPanel - 1) / kPanel;
  at::Tensor panels = at::zeros({P, K, kPanel}, M.options());
  for (int64_t p = 0; p < P; ++p) {
    const int64_t width = std::min(kPanel, N - p * kPanel);
    panels[p].narrow(1, 0, width).copy_(M.narrow(1, p * kPanel, width));
  }
  return panels;
}

// c[r, 0:width] = x[r] . panel for the 4 rows r of a tile (x rows K apart, c rows ldc apart). The twelve
// sums are named, not an array: with an array GCC kept them on the stack, storing all twelve per k.
void panel_tile(const float* x, int64_t K, const float* panel, float* c, int64_t ldc, int64_t width) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  const float *x0 = x, *x1 = x + K, *x2 = x + 2 * K, *x3 = x + 3 * K;
  for (int64_t k = 0; k < K; ++k) {
    const float* w = panel + k * kPanel;
    const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8), w2 = _mm256_loadu_ps(w + 16);
    __m256 xr = _mm256_broadcast_ss(x0 + k);
    c00 = _mm256_fmadd_ps(xr, w0, c00), c01 = _mm256_fmadd_ps(xr, w1, c01), c02 = _mm256_fmadd_ps(xr, w2, c02);
    xr = _mm256_broadcast_ss(x1 + k);
    c10 = _mm256_fmadd_ps(xr, w0, c10), c11 = _mm256_fmadd_ps(xr, w1, c11), c12 = _mm256_fmadd_ps(xr, w2, c12);
    xr = _mm256_broadcast_ss(x2 + k);
    c20 = _mm256_fmadd_ps(xr, w0, c20), c21 = _mm256_fmadd_ps(xr, w1, c21), c22 = _mm256_fmadd_ps(xr, w2, c22);
    xr = _mm256_broadcast_ss(x3 + k);
    c30 = _mm256_fmadd_ps(xr, w0, c30), c31 = _mm256_fmadd_ps(xr, w1, c31), c32 = _mm256_fmadd_ps(xr, w2, c32);
  }
  const __m256 sums[kTileRows][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
  for (int64_t r = 0; r < kTileRows; ++r) {
    alignas(32) float row[kPanel];
    for (int v = 0; v < 3; ++v) _mm256_store_ps(row + 8 * v, sums[r][v]);
    std::copy_n(row, width, c + r * ldc);
  }
}

// x (B, K) contiguous times the panels of an N-column matrix. A batch that is not a multiple of the
// tile's 4 rows is padded with zero rows (and their sums dropped).
at::Tensor blocked_product(const at::Tensor& x_in, const at::Tensor& panels, int64_t N) {
  const int64_t B = x_in.size(0), K = x_in.size(1), P = panels.size(0);
  const int64_t Bp = (B + kTileRows - 1) / kTileRows * kTileRows;
  const at::Tensor x = Bp == B ? x_in : at::cat({x_in, at::zeros({Bp - B, K}, x_in.options())});
  at::Tensor out = at::empty({Bp, N}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* pp = panels.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t width = std::min(kPanel, N - p * kPanel);
      for (int64_t b = 0; b < Bp; b += kTileRows)
        panel_tile(xp + b * K, K, pp + p * K * kPanel, op + b * N + p * kPanel, N, width);
    }
  });
  return Bp == B ? out : out.narrow(0, 0, B);
}
#endif

class StepProduct {
 public:
  StepProduct(const at::Tensor& M, int64_t B, int64_t steps)
      : m_(M), batch_(B), path_(product_path(M.scalar_type(), B, steps)) {
    if (path_ == ProductPath::kPacked) {
      auto& dispatcher = c10::Dispatcher::singleton();
      auto linear = dispatcher.findSchema({"mkl::_mkl_linear", ""});
      auto reorder = dispatcher.findSchema({"mkl::_mkl_reorder_linear_weight", ""});
      weight_ = M.t().contiguous();  // a linear layer's (out, in) weight: x M = x weight^T
      laid_out_ = reorder->typed<at::Tensor(const at::Tensor&, int64_t)>().call(weight_, B);
      linear_ = linear->typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&, int64_t)>();
    }
#if HMLSTM_AVX2
    if (path_ == ProductPath::kBlocked) laid_out_ = pack_panels(M);
#endif
  }
  // x M
  at::Tensor operator()(const at::Tensor& x) const {
    if (x.size(0) == batch_ && x.is_contiguous()) {
      if (path_ == ProductPath::kPacked) return linear_->call(x, laid_out_, weight_, std::nullopt, batch_);
#if HMLSTM_AVX2
      if (path_ == ProductPath::kBlocked) return blocked_product(x, laid_out_, m_.size(1));
#endif
    }
    return at::mm(x, m_);
  }

 private:
  at::Tensor m_, weight_, laid_out_;
  int64_t batch_;
  ProductPath path_;
  std::optional<c10::TypedOperatorHandle<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                    const std::optional<at::Tensor>&, int64_t)>>
      linear_;
};

// e^x written so that the loops calling it vectorise (glibc's expf only does under -ffast-math;
// this needs -fno-trapping-math, which changes no result):
// Cody-Waite reduction to r in [-ln2/2, ln2/2] and Cephes' polynomial, relative error ~2e-7.
inline float exp_approx(float x) {
  x = x > 88.0f ? 88.0f : x;
  x = x < -87.0f ? -87.0f : x;
  const float shifter = 12582912.0f;                  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  return p * __builtin_bit_cast(float, bits);
}
inline double exp_approx(double x) { return std::exp(x); }  // float64 stays exact (the tests' 1e-10)

template <typename T>
inline T sigmoid(T x) { return T(1) / (T(1) + exp_approx(-x)); }
inline float tanh_(float x) { return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f); }
inline double tanh_(double x) { return std::tanh(x); }

// --- one step's view of the buffers ----------------------------------------------------------

// The states before and after step t, and z~ and its line at t: rows of B x N (or B x L).
template <typename T>
struct Step {
  T *h_prev, *h_now, *c_prev, *c_now, *z_prev, *z_now, *z_soft, *z_line;
  Step(const ForwardBuffers& buf, int64_t t) {
    const int64_t B = buf.Zsoft.size(1), N = buf.H.size(2), L = buf.Z.size(2);
    h_prev = buf.H.data_ptr<T>() + t * B * N;
    h_now = h_prev + B * N;
    c_prev = buf.C.data_ptr<T>() + t * B * N;
    c_now = c_prev + B * N;
    z_prev = buf.Z.data_ptr<T>() + t * B * L;
    z_now = z_prev + B * L;
    z_soft = buf.Zsoft.data_ptr<T>() + t * B * L;
    z_line = buf.Zline.defined() ? buf.Zline.data_ptr<T>() + t * B * L : nullptr;
  }
};

// The masks of row b at layer l: z_{t-1}^l (0 for a layer that never flushes) and z_t^{l-1}
// (1 for layer 1), and the operation they make.
template <typename T>
struct Masks {
  T zp, zb, copy, update, keep;
  Masks(const Layout& layout, const Step<T>& st, int64_t b, int64_t l) {
    const int64_t L = layout.L();
    zp = layout.has_z[l] ? st.z_prev[b * L + l] : T(0);
    zb = l > 0 ? st.z_now[b * L + l - 1] : T(1);
    copy = (T(1) - zp) * (T(1) - zb);
    update = (T(1) - zp) * zb;
    keep = T(1) - copy;
  }
};

// --- forward steps --------------------------------------------------------------------------

// u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}], row by row.
template <typename T>
void gather_u(const Layout& layout, const Step<T>& st, int64_t l, int64_t B, T* u) {
  const int64_t N = layout.total(), L = layout.L(), H = layout.sizes[l], I = layout.in_widths[l], o = layout.offsets[l];
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* ub = u + b * I;
      const T* hp = st.h_prev + b * N;
      std::copy(hp + o, hp + o + H, ub);
      int64_t k = H;
      if (layout.above[l]) {
        const T zp = layout.has_z[l] ? st.z_prev[b * L + l] : T(0);
        const int64_t oa = layout.offsets[l + 1];
        for (int64_t j = 0; j < layout.above[l]; ++j) ub[k + j] = zp * hp[oa + j];
        k += layout.above[l];
      }
      if (layout.below[l]) {
        const T zb = st.z_now[b * L + l - 1];
        const T* hn = st.h_now + b * N + layout.offsets[l - 1];
        for (int64_t j = 0; j < layout.below[l]; ++j) ub[k + j] = zb * hn[j];
      }
    }
  });
}

// The rows that do not COPY at layer l.
template <typename T>
std::vector<int64_t> live_rows(const Layout& layout, const Step<T>& st, int64_t l, int64_t B) {
  std::vector<int64_t> live;
  for (int64_t b = 0; b < B; ++b) {
    const Masks<T> m(layout, st, b, l);
    if (m.copy == T(0)) live.push_back(b);
  }
  return live;
}

// Inference only: s = pre + u W for the live rows alone. A COPY row carries h and c over and of s
// needs its z row only (one dot product); its gates are zeroed (finite, and unread: there is no
// backward here). Returns false when every row COPYs: then the rows are finished here (h, c
// carried, z from its row) and the cell has nothing to do.
template <typename T>
bool compact_copy_rows(const Layout& layout, const Step<T>& st, int64_t l, int64_t B, const std::vector<int64_t>& live,
                       const T* pre, int64_t pre_stride, const at::Tensor& u_t, const at::Tensor& W,
                       const at::Tensor& s_t, T half_slope) {
  const int64_t N = layout.total(), L = layout.L(), H = layout.sizes[l], G = layout.rows[l], I = layout.in_widths[l], o = layout.offsets[l];
  T* sp = s_t.data_ptr<T>();
  const T* u = u_t.data_ptr<T>();
  for (int64_t b = 0; b < B; ++b) std::copy(pre + b * pre_stride, pre + b * pre_stride + G, sp + b * G);
  const T* w = W.data_ptr<T>();
  size_t next = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (next < live.size() && live[next] == b) { ++next; continue; }
    T* sb = sp + b * G;
    if (layout.has_z[l]) {
      T acc = sb[4 * H];
      const T* ub = u + b * I;
      for (int64_t k = 0; k < I; ++k) acc += ub[k] * w[k * G + 4 * H];
      sb[4 * H] = acc;
    }
    std::fill(sb, sb + 4 * H, T(0));
  }
  if (!live.empty()) {
    at::Tensor rows = at::tensor(live, at::kLong);
    at::Tensor s = s_t;
    s.index_copy_(0, rows, s.index_select(0, rows).addmm_(u_t.index_select(0, rows), W));
    return true;
  }
  for (int64_t b = 0; b < B; ++b) {
    std::copy(st.h_prev + b * N + o, st.h_prev + b * N + o + H, st.h_now + b * N + o);
    std::copy(st.c_prev + b * N + o, st.c_prev + b * N + o + H, st.c_now + b * N + o);
    T line = T(0), soft = T(0), z = T(0);
    if (layout.has_z[l]) {
      line = sp[b * G + 4 * H] * half_slope + T(0.5);
      soft = std::min(T(1), std::max(T(0), line));
      z = (!layout.nested && soft > T(0.5)) ? T(1) : T(0);     // nested: z^{l-1} = 0 here
    }
    st.z_line[b * L + l] = line;
    st.z_soft[b * L + l] = soft;
    st.z_now[b * L + l] = z;
  }
  return false;
}

// One pass per row: s (= pre + uw, unless uw is null: s is whole already), its layer norm, the
// gates, z, c_t and h_t.
template <typename T>
void cell_forward(const Layout& layout, const Step<T>& st, int64_t l, int64_t B, const T* pre, int64_t pre_stride,
                  const T* uw, T* sp, T* ap, T* tcp, T* mean_p, T* rstd_p, const T* gw, const T* gb,
                  T half_slope) {
  const int64_t N = layout.total(), L = layout.L(), H = layout.sizes[l], G = layout.rows[l], o = layout.offsets[l], n = layout.ln_widths[l];
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    std::vector<T> normed(n ? G : 0);
    for (int64_t b = b0; b < b1; ++b) {
      T* sb = sp + b * G;
      if (uw) {
        const T* pb = pre + b * pre_stride;
        const T* rb = uw + b * G;
#pragma omp simd
        for (int64_t j = 0; j < G; ++j) sb[j] = pb[j] + rb[j];
      }
      const T* ab = sb;  // the nonlinearities' inputs: s, or s with its first n rows layer-normalised
      if (n) {
        // sums in double, in vector lanes (one chain of dependent adds took microseconds per step)
        double m = 0, v = 0;
#pragma omp simd reduction(+ : m)
        for (int64_t j = 0; j < n; ++j) m += sb[j];
        m /= n;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < n; ++j) v += (sb[j] - m) * (sb[j] - m);
        v /= n;
        const double r = 1.0 / std::sqrt(v + 1e-5);
        mean_p[b] = T(m);
        rstd_p[b] = T(r);
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) normed[j] = T((sb[j] - m) * r) * gw[j] + gb[j];
        for (int64_t j = n; j < G; ++j) normed[j] = sb[j];
        ab = normed.data();
      }
      T* act = ap + b * 4 * H;  // [f, i, o] = sigm, g = tanh
#pragma omp simd
      for (int64_t j = 0; j < 3 * H; ++j) act[j] = sigmoid(ab[j]);
#pragma omp simd
      for (int64_t j = 3 * H; j < 4 * H; ++j) act[j] = tanh_(ab[j]);
      const Masks<T> m(layout, st, b, l);
      if (layout.has_z[l]) {
        const T line = ab[4 * H] * half_slope + T(0.5);  // (a*s + 1)/2, unclamped
        const T soft = std::min(T(1), std::max(T(0), line));
        st.z_line[b * L + l] = line;
        st.z_soft[b * L + l] = soft;
        T z = soft > T(0.5) ? T(1) : T(0);
        if (layout.nested && l > 0) z *= m.zb;
        st.z_now[b * L + l] = z;
      } else {
        st.z_soft[b * L + l] = T(0);
        st.z_now[b * L + l] = T(0);
      }
      const T* cp = st.c_prev + b * N + o;
      const T* hp = st.h_prev + b * N + o;
      T* cn = st.c_now + b * N + o;
      T* hn = st.h_now + b * N + o;
      T* tc = tcp + b * H;
      const T keep = m.keep, update = m.update, copy = m.copy;
      // FLUSH: i*g ; UPDATE: f*c + i*g ; COPY: c.  h: o*tanh(c), or h_{t-1} on COPY
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        cn[j] = keep * act[H + j] * act[3 * H + j] + (update * act[j] + copy) * cp[j];
        tc[j] = tanh_(cn[j]);
        hn[j] = keep * act[2 * H + j] * tc[j] + copy * hp[j];
      }
    }
  });
}

template <typename T>
void forward_loop(const Layout& layout, const at::Tensor& pre0, const std::vector<at::Tensor>& W,
                  const std::vector<at::Tensor>& bias, const std::vector<at::Tensor>& ln_w,
                  const std::vector<at::Tensor>& ln_b, double slope, bool skip_copy, ForwardBuffers& buf) {
  const int64_t Tn = buf.Zsoft.size(0), B = buf.Zsoft.size(1), L = layout.L();
  const T half_slope = T(0.5 * slope);
  std::vector<StepProduct> prod;
  for (int64_t l = 0; l < L; ++l) prod.emplace_back(W[l], B, Tn);
  const T* pre0p = pre0.data_ptr<T>();
  for (int64_t t = 0; t < Tn; ++t) {
    const Step<T> st(buf, t);
    for (int64_t l = 0; l < L; ++l) {
      const int64_t G = layout.rows[l], n = layout.ln_widths[l];
      const T* pre = l == 0 ? pre0p + t * B * G : bias[l].data_ptr<T>();
      const int64_t pre_stride = l == 0 ? G : 0;        // pre0 has a row per batch entry, a bias one row
      const at::Tensor u_t = buf.U[l][t], s_t = buf.S[l][t];
      gather_u(layout, st, l, B, u_t.data_ptr<T>());
      // Without gradients, layers above the first compute their product over the rows that do not
      // COPY only (not with layer norm over all rows, where the z row depends on the gates). With
      // gradients every row needs its gates: the straight-through gradient of z_t^{l-1} and
      // z_{t-1}^l on a COPY step is made of the gates that an UPDATE or FLUSH would have used.
      const std::vector<int64_t> live = skip_copy && layout.ln != 2 ? live_rows(layout, st, l, B) : std::vector<int64_t>();
      const bool compacted = skip_copy && layout.ln != 2 && static_cast<int64_t>(live.size()) < B;
      if (compacted && !compact_copy_rows(layout, st, l, B, live, pre, pre_stride, u_t, W[l], s_t, half_slope)) continue;
      const at::Tensor uw = compacted ? at::Tensor() : prod[l](u_t);
      const int64_t H = layout.sizes[l];
      cell_forward(layout, st, l, B, pre, pre_stride, compacted ? nullptr : uw.data_ptr<T>(), s_t.data_ptr<T>(),
                   buf.A[l].data_ptr<T>() + t * B * 4 * H, buf.TC[l].data_ptr<T>() + t * B * H,
                   buf.Mean[l].data_ptr<T>() + t * B, buf.Rstd[l].data_ptr<T>() + t * B,
                   n ? ln_w[l].data_ptr<T>() : nullptr, n ? ln_b[l].data_ptr<T>() : nullptr, half_slope);
    }
  }
}

// --- inference that skips unchanged work (DESIGN.md section 11) --------------------------------

// out += v M for v of length K and K rows of M, each `width` long (row stride G): an axpy per row of
// M, four at a time, so each pass over `out` (which stays in L1) reads four rows of the matrix.
// M is float32, or holds the same numbers in fewer bytes: float16 (a checkpoint stored in float16), or
// int8 times a scale per column (one stored in int8), each value widened exactly. The narrow paths run
// only where the CPU widens in hardware (AVX2 and FMA, and F16C for float16): there every form goes
// through add_vector_matrix_avx2 below, so all give the same sums, from half or a quarter of the bytes.
// This generic loop serves float64 and builds without those instructions.
template <typename T, typename S>
void add_vector_matrix(T* out, const T* v, const S* M, int64_t K, int64_t width, int64_t G) {
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const T a = v[k], b = v[k + 1], c = v[k + 2], d = v[k + 3];
    const S *m0 = M + k * G, *m1 = m0 + G, *m2 = m1 + G, *m3 = m2 + G;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) out[j] += a * T(m0[j]) + b * T(m1[j]) + c * T(m2[j]) + d * T(m3[j]);
  }
  for (; k < K; ++k) {
    const T a = v[k];
    const S* m = M + k * G;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) out[j] += a * T(m[j]);
  }
}

#if HMLSTM_AVX2
// The matrix's values as float32, exactly, eight columns or one at a time (`r`: a row's offset, `j`: the
// column): float32 itself; float16 widened in hardware (F16C); int8 times its column's scale, a product
// that is exact because the checkpoint's weights are such products (model/checkpoint.py, round_to_bytes).
struct Floats {
  const float* M;
  __m256 eight(int64_t r, int64_t j) const { return _mm256_loadu_ps(M + r + j); }
  float one(int64_t r, int64_t j) const { return M[r + j]; }
};
#if defined(__F16C__)
struct Halves {
  const _Float16* M;
  __m256 eight(int64_t r, int64_t j) const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(M + r + j)));
  }
  float one(int64_t r, int64_t j) const { return float(M[r + j]); }
};
#endif
struct ScaledBytes {
  const int8_t* M;
  const float* scale;   // per column
  __m256 eight(int64_t r, int64_t j) const {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(M + r + j));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_loadu_ps(scale + j));
  }
  float one(int64_t r, int64_t j) const { return float(M[r + j]) * scale[j]; }
};

// Eight columns at a time (the last few one at a time, in the same order), eight rows a pass, then four,
// then one; whatever the matrix is stored in, the same values through the same operations, so the same sums.
template <typename Source>
void add_vector_matrix_avx2(float* out, const float* v, const Source& M, int64_t K, int64_t width, int64_t G) {
  const int64_t wide = width / 8 * 8;
  int64_t k = 0;
  // eight rows a pass: `out` is read and written half as often as with four (15% faster on the default)
  for (; k + 8 <= K; k += 8) {
    __m256 s[8];
    for (int i = 0; i < 8; ++i) s[i] = _mm256_set1_ps(v[k + i]);
    const int64_t r0 = k * G;
    for (int64_t j = 0; j < wide; j += 8) {
      __m256 t = _mm256_mul_ps(s[0], M.eight(r0, j));
      for (int i = 1; i < 8; ++i) t = _mm256_fmadd_ps(s[i], M.eight(r0 + i * G, j), t);
      _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_loadu_ps(out + j), t));
    }
    for (int64_t j = wide; j < width; ++j) {
      float t = v[k] * M.one(r0, j);
      for (int i = 1; i < 8; ++i) t = std::fma(v[k + i], M.one(r0 + i * G, j), t);
      out[j] += t;
    }
  }
  for (; k + 4 <= K; k += 4) {
    const float a = v[k], b = v[k + 1], c = v[k + 2], d = v[k + 3];
    const __m256 a8 = _mm256_set1_ps(a), b8 = _mm256_set1_ps(b), c8 = _mm256_set1_ps(c), d8 = _mm256_set1_ps(d);
    const int64_t r0 = k * G, r1 = r0 + G, r2 = r1 + G, r3 = r2 + G;
    for (int64_t j = 0; j < wide; j += 8) {
      __m256 t = _mm256_mul_ps(a8, M.eight(r0, j));
      t = _mm256_fmadd_ps(b8, M.eight(r1, j), t);
      t = _mm256_fmadd_ps(c8, M.eight(r2, j), t);
      t = _mm256_fmadd_ps(d8, M.eight(r3, j), t);
      _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_loadu_ps(out + j), t));
    }
    for (int64_t j = wide; j < width; ++j)
      out[j] += std::fma(d, M.one(r3, j), std::fma(c, M.one(r2, j), std::fma(b, M.one(r1, j), a * M.one(r0, j))));
  }
  for (; k < K; ++k) {
    const __m256 a8 = _mm256_set1_ps(v[k]);
    const int64_t r = k * G;
    for (int64_t j = 0; j < wide; j += 8)
      _mm256_storeu_ps(out + j, _mm256_fmadd_ps(a8, M.eight(r, j), _mm256_loadu_ps(out + j)));
    for (int64_t j = wide; j < width; ++j) out[j] = std::fma(v[k], M.one(r, j), out[j]);
  }
}

inline void add_vector_matrix(float* out, const float* v, const float* M, int64_t K, int64_t width, int64_t G) {
  add_vector_matrix_avx2(out, v, Floats{M}, K, width, G);
}
#if defined(__F16C__)
inline void add_vector_matrix(float* out, const float* v, const _Float16* M, int64_t K, int64_t width, int64_t G) {
  add_vector_matrix_avx2(out, v, Halves{M}, K, width, G);
}
#endif
inline void add_scaled_bytes(float* out, const float* v, const int8_t* M, const float* scale, int64_t K, int64_t width,
                             int64_t G) {
  add_vector_matrix_avx2(out, v, ScaledBytes{M, scale}, K, width, G);
}
#endif
// int8 weights are streamed only by float32 loops built with AVX2 (model/loops/cpp.py sends none otherwise)
template <typename T>
void add_scaled_bytes(T*, const T*, const int8_t*, const float*, int64_t, int64_t, int64_t) {
  TORCH_CHECK(false, "int8 weights need a float32 loop built with AVX2");
}

// v . column j of M (K rows, stride G)
template <typename T>
T dot_column(const T* v, const T* M, int64_t K, int64_t G, int64_t j) {
  T acc = 0;
  for (int64_t k = 0; k < K; ++k) acc += v[k] * M[k * G + j];
  return acc;
}

// What the dense path multiplies and what inference actually did, in multiply-adds.
struct WorkCount {
  int64_t dense = 0, done = 0;
};
WorkCount work_count;

// One product of the inference loop: v W_part for one source of s (the layer's own h, the one above,
// or the one below), kept until that source's h changes. `z_only`: only its z row is known.
template <typename T>
struct Partial {
  std::vector<T> value;
  bool full = false, z_only = false;
  void forget() { full = z_only = false; }
};

// The threads of one inference loop meet here between the parts of a step: spin a little (a step
// part takes microseconds), then yield, so that a loop whose threads outnumber free cores slows
// down rather than stalls.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    if (n_ == 1) return;
    const int gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(gen + 1, std::memory_order_release);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == gen; ++spins)
      if (spins > 4000) std::this_thread::yield();
  }

 private:
  const int n_;
  std::atomic<int> arrived_{0}, generation_{0};
};

// What batch-1 inference streams instead of W[l] where it holds the same numbers, else empty tensors:
// W16[l] in float16, or W8[l] in int8 with W8_scale[l] (3, G), the scale of each column in each part of
// W[l]'s rows (the layer's own h, the one above, the one below).
struct NarrowWeights {
  std::vector<at::Tensor> W16, W8, W8_scale;
};

// Threads the calling (Python) thread's inference loops use; 0: torch's intra-op thread count.
// Per calling thread, so that a server can give a request alone both cores and, under load, one
// each (app/analysis.py).
thread_local int64_t infer_threads = 0;
constexpr int64_t kMaxInferThreads = 8;
constexpr int64_t kMinStepsPerThreadedLoop = 16;   // one character typed: not worth a thread

// Batch 1, no gradients: per layer and step, only the products that this step's operation needs
// and that changed since they were last computed. s = pre + U_l^l h^l [+ z_{t-1}^l U_{l+1}^l h^{l+1}]
// [+ z_t^{l-1} W_{l-1}^l h^{l-1}], each term reused until its h changes. A COPY step needs the z row
// alone, and nothing where the layer has no detector. Layer norm over all rows makes z depend on the
// gates: such a layer computes every step in full.
// At batch 1 each product streams its weight block from memory; with several threads each streams
// its own columns of every block (each column's sum in the same order: the results do not depend on
// the thread count) and the first thread does the cell between two barriers.
template <typename T>
void infer_loop(const Layout& layout, const at::Tensor& pre0, const std::vector<at::Tensor>& W,
                const NarrowWeights& narrow, const std::vector<at::Tensor>& bias, const std::vector<at::Tensor>& ln_w,
                const std::vector<at::Tensor>& ln_b, double slope, ForwardBuffers& buf) {
  const int64_t Tn = buf.Zsoft.size(0), L = layout.L();
  const T half_slope = T(0.5 * slope);
  const int64_t asked = infer_threads > 0 ? infer_threads : at::get_num_threads();
  const int nthreads = static_cast<int>(Tn < kMinStepsPerThreadedLoop ? 1 : std::clamp<int64_t>(asked, 1, kMaxInferThreads));
  std::vector<Partial<T>> own(L), above(L), below(L);
  std::vector<std::vector<T>> s(L), act(L), tc(L);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t G = layout.rows[l];
    own[l].value.resize(G);
    above[l].value.resize(G);
    below[l].value.resize(G);
    s[l].resize(G);
    act[l].resize(4 * layout.sizes[l]);
    tc[l].resize(layout.sizes[l]);
  }
  // thread i's columns of layer l: [cols[l][i], cols[l][i + 1]), cut at 64-byte lines
  std::vector<std::vector<int64_t>> cols(L);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t G = layout.rows[l], line = 64 / sizeof(T);
    for (int i = 0; i <= nthreads; ++i) cols[l].push_back(std::min(G, (G * i / nthreads + line - 1) / line * line));
    cols[l].back() = G;
  }
  const T* pre0p = pre0.data_ptr<T>();
  int64_t dense = 0, done = 0;
  SpinBarrier barrier(nthreads);
  auto run = [&](int me) {
    const bool first = me == 0;
    // thread `me`'s columns of v W_part (part 0, 1, 2: rows k0..k0+K of W[l] for the own, above, below h)
    auto slice = [&](Partial<T>& p, int64_t l, int part, const T* v, int64_t k0, int64_t K) {
      const int64_t G = layout.rows[l], c0 = cols[l][me], c1 = cols[l][me + 1];
      std::fill(p.value.begin() + c0, p.value.begin() + c1, T(0));
      const int64_t at = k0 * G + c0;
      T* out = p.value.data() + c0;
      if (narrow.W8[l].numel())
        add_scaled_bytes(out, v, narrow.W8[l].data_ptr<int8_t>() + at,
                         narrow.W8_scale[l].data_ptr<float>() + part * G + c0, K, c1 - c0, G);
      else if (narrow.W16[l].numel())
        add_vector_matrix(out, v, reinterpret_cast<const _Float16*>(narrow.W16[l].data_ptr<at::Half>()) + at, K,
                          c1 - c0, G);
      else
        add_vector_matrix(out, v, W[l].data_ptr<T>() + at, K, c1 - c0, G);
    };
    for (int64_t t = 0; t < Tn; ++t) {
      const Step<T> st(buf, t);
      for (int64_t l = 0; l < L; ++l) {
        const int64_t H = layout.sizes[l], G = layout.rows[l], o = layout.offsets[l], n = layout.ln_widths[l];
        if (first) dense += layout.in_widths[l] * G;
        const Masks<T> m(layout, st, 0, l);
        const T* pre = l == 0 ? pre0p + t * G : bias[l].data_ptr<T>();
        if (m.copy == T(1) && layout.ln != 2) {  // COPY: h and c carry over; of s the z row at most
          if (first) {
            std::copy(st.h_prev + o, st.h_prev + o + H, st.h_now + o);
            std::copy(st.c_prev + o, st.c_prev + o + H, st.c_now + o);
            T line = T(0), soft = T(0), z = T(0);
            if (layout.has_z[l]) {
              if (!own[l].full && !own[l].z_only) {
                own[l].value[G - 1] = dot_column(st.h_prev + o, W[l].data_ptr<T>(), H, G, G - 1);
                own[l].z_only = true;
                done += H;
              }
              line = (pre[G - 1] + own[l].value[G - 1]) * half_slope + T(0.5);
              soft = std::min(T(1), std::max(T(0), line));
              z = (!layout.nested && soft > T(0.5)) ? T(1) : T(0);  // nested: z^{l-1} = 0 here
            }
            st.z_line[l] = line;
            st.z_soft[l] = soft;
            st.z_now[l] = z;
          }
          barrier.wait();                        // the layer above reads z_t^l
          continue;
        }
        // what this step needs that is out of date, read by every thread before any writes a flag
        const bool need_own = !own[l].full;
        const bool use_above = layout.above[l] && m.zp != T(0), need_above = use_above && !above[l].full;
        const bool use_below = layout.below[l] && m.zb != T(0), need_below = use_below && !below[l].full;
        if (need_own) slice(own[l], l, 0, st.h_prev + o, 0, H);
        if (need_above) slice(above[l], l, 1, st.h_prev + layout.offsets[l + 1], H, layout.above[l]);
        if (need_below) slice(below[l], l, 2, st.h_now + layout.offsets[l - 1], H + layout.above[l], layout.below[l]);
        {
          T* sl = s[l].data();
          const T *a = above[l].value.data(), *b = below[l].value.data(), *u = own[l].value.data();
          for (int64_t j = cols[l][me]; j < cols[l][me + 1]; ++j)
            sl[j] = pre[j] + u[j] + (use_above ? a[j] : T(0)) + (use_below ? b[j] : T(0));
        }
        barrier.wait();                          // s is whole
        if (first) {
          if (need_own) done += H * G;
          if (need_above) done += layout.above[l] * G;
          if (need_below) done += layout.below[l] * G;
          own[l].full = true;
          above[l].full = above[l].full || need_above;
          below[l].full = below[l].full || need_below;
          T mean = 0, rstd = 0;
          T* sl = s[l].data();
          cell_forward(layout, st, l, 1, sl, 0, static_cast<const T*>(nullptr), sl, act[l].data(), tc[l].data(),
                       &mean, &rstd, n ? ln_w[l].data_ptr<T>() : nullptr, n ? ln_b[l].data_ptr<T>() : nullptr,
                       half_slope);
          // h^l changed: every product of it is out of date
          own[l].forget();
          if (l > 0) above[l - 1].forget();
          if (l + 1 < L) below[l + 1].forget();
        }
        barrier.wait();                          // h_t^l and the flags are written
      }
    }
  };
  std::vector<std::thread> helpers;
  for (int i = 1; i < nthreads; ++i) helpers.emplace_back(run, i);
  run(0);
  for (auto& h : helpers) h.join();
  work_count.dense += dense;
  work_count.done += done;
}

// --- backward steps ---------------------------------------------------------------------------

// The gradients reaching step t (of h, c, z) and those it passes to step t - 1.
template <typename T>
struct StepGrads {
  T *dh, *dc, *dz, *dh_prev, *dc_prev, *dz_prev;
};

// From dh, dc, dz of row b to ds (through the layer norm), and the masks' share of dz_{t-1}^l
// (into dzp) and of dz_t^{l-1} (into dzb). The gradient at the norm's output goes to dA_ln, for
// the norm's own parameters.
template <typename T>
void cell_backward(const Layout& layout, const Step<T>& st, const StepGrads<T>& g, int64_t l, int64_t B,
                   const T* ap, const T* tcp, const T* sp, const T* dzl, const T* mean_p, const T* rstd_p,
                   const T* gw, T half_slope, T* dsp, T* dA_ln, T* dzp, T* dzb) {
  const int64_t N = layout.total(), L = layout.L(), H = layout.sizes[l], G = layout.rows[l], o = layout.offsets[l], n = layout.ln_widths[l];
  at::parallel_for(0, B, 8, [&](int64_t b0, int64_t b1) {
    std::vector<T> da(G);
    for (int64_t b = b0; b < b1; ++b) {
      const Masks<T> m(layout, st, b, l);
      const T copy = m.copy, update = m.update, keep = m.keep;
      const T* act = ap + b * 4 * H;
      const T* tc = tcp + b * H;
      const T* cp = st.c_prev + b * N + o;
      const T* hp = st.h_prev + b * N + o;
      const T* dh = g.dh + b * N + o;
      const T* dc = g.dc + b * N + o;
      T* dcp = g.dc_prev + b * N + o;
      T* dhp = g.dh_prev + b * N + o;
      T d_update = 0, d_keep = 0, d_copy = 0;
      // h = keep * o*tanh(c) + copy * h_prev ;  c = keep*i*g + (update*f + copy)*c_prev
#pragma omp simd reduction(+ : d_update, d_keep, d_copy)
      for (int64_t j = 0; j < H; ++j) {
        const T f = act[j], i = act[H + j], og = act[2 * H + j], gg = act[3 * H + j], tcj = tc[j];
        const T dhk = dh[j] * keep;
        const T dcn = dc[j] + dhk * og * (T(1) - tcj * tcj);
        const T dcnk = dcn * keep;
        const T d_f = dcn * update * cp[j], d_i = dcnk * gg, d_g = dcnk * i, d_o = dhk * tcj;
        dcp[j] = dcn * (update * f + copy);
        dhp[j] += dh[j] * copy;
        d_update += dcn * f * cp[j];
        d_keep += dcn * i * gg + dh[j] * og * tcj;
        d_copy += dcn * cp[j] + dh[j] * hp[j];
        da[j] = d_f * f * (T(1) - f);
        da[H + j] = d_i * i * (T(1) - i);
        da[2 * H + j] = d_o * og * (T(1) - og);
        da[3 * H + j] = d_g * (T(1) - gg * gg);
      }
      d_copy -= d_keep;  // keep = 1 - copy
      dzp[b] = -d_copy * (T(1) - m.zb) - d_update * m.zb;
      T dzb_b = (d_update - d_copy) * (T(1) - m.zp);
      if (layout.has_z[l]) {
        T dz = g.dz[b * L + l];
        const T soft = st.z_soft[b * L + l];
        if (layout.nested && l > 0) {
          dzb_b += dz * (soft > T(0.5) ? T(1) : T(0));
          dz *= m.zb;
        }
        // straight-through: dz/dz~ = 1; the hard sigmoid passes a/2 inside (0, 1);
        // the unclamped line (a*s + 1)/2 passes a/2 everywhere
        da[4 * H] = ((soft > T(0) && soft < T(1)) ? dz : T(0)) * half_slope + dzl[b * L + l] * half_slope;
      }
      dzb[b] = dzb_b;
      T* ds = dsp + b * G;
      if (n) {  // layer-norm backward over the first n rows
        std::copy(da.begin(), da.begin() + n, dA_ln + b * n);
        const T* sb = sp + b * G;
        const T mu = mean_p[b], r = rstd_p[b];
        T mdn = 0, mdnx = 0;
#pragma omp simd reduction(+ : mdn, mdnx)
        for (int64_t j = 0; j < n; ++j) {
          const T xh = (sb[j] - mu) * r, dn = da[j] * gw[j];
          mdn += dn;
          mdnx += dn * xh;
        }
        mdn /= n;
        mdnx /= n;
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
          const T xh = (sb[j] - mu) * r;
          ds[j] = r * (da[j] * gw[j] - mdn - xh * mdnx);
        }
        for (int64_t j = n; j < G; ++j) ds[j] = da[j];
      } else {
        std::copy(da.begin(), da.end(), ds);
      }
    }
  });
}

// The layer norm's gain and bias are shared by the rows: their gradients summed here, serially.
template <typename T>
void add_ln_param_grads(int64_t n, int64_t G, int64_t B, const T* sp, const T* dA_ln, const T* mean_p,
                        const T* rstd_p, T* dgw, T* dgb) {
  for (int64_t b = 0; b < B; ++b) {
    const T* sb = sp + b * G;
    const T* dab = dA_ln + b * n;
    const T m = mean_p[b], r = rstd_p[b];
    for (int64_t j = 0; j < n; ++j) {
      dgw[j] += dab[j] * (sb[j] - m) * r;
      dgb[j] += dab[j];
    }
  }
}

// Back through u = [h_prev, zp*h_above, zb*h_below]: du spread over the states it came from.
template <typename T>
void scatter_du(const Layout& layout, const Step<T>& st, const StepGrads<T>& g, int64_t l, int64_t B, const T* du,
                T* dzp, const T* dzb) {
  const int64_t N = layout.total(), L = layout.L(), H = layout.sizes[l], I = layout.in_widths[l], o = layout.offsets[l];
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* d = du + b * I;
      const T* hp = st.h_prev + b * N;
      T* dhp = g.dh_prev + b * N;
      for (int64_t j = 0; j < H; ++j) dhp[o + j] += d[j];
      int64_t k = H;
      if (layout.above[l]) {
        const T zp = st.z_prev[b * L + l];
        const int64_t oa = layout.offsets[l + 1];
        T acc = 0;
        for (int64_t j = 0; j < layout.above[l]; ++j) {
          dhp[oa + j] += zp * d[k + j];
          acc += d[k + j] * hp[oa + j];
        }
        dzp[b] += acc;
        k += layout.above[l];
      }
      if (layout.below[l]) {
        const T zb = st.z_now[b * L + l - 1];
        const int64_t ob = layout.offsets[l - 1];
        const T* hn = st.h_now + b * N + ob;
        T* dhb = g.dh + b * N + ob;
        T acc = 0;
        for (int64_t j = 0; j < layout.below[l]; ++j) {
          dhb[j] += zb * d[k + j];
          acc += d[k + j] * hn[j];
        }
        g.dz[b * L + l - 1] += dzb[b] + acc;
      }
      if (layout.has_z[l]) g.dz_prev[b * L + l] += dzp[b];
    }
  });
}

template <typename T>
void backward_loop(const Layout& layout, const at::Tensor& dH, const at::Tensor& dZ, const at::Tensor& dZline,
                   const ForwardBuffers& saved, const std::vector<at::Tensor>& Wt,
                   const std::vector<at::Tensor>& ln_w, double slope, BackwardResult& res) {
  const int64_t Tn = saved.Zsoft.size(0), B = saved.Zsoft.size(1), L = layout.L(), N = layout.total();
  const T half_slope = T(0.5 * slope);
  auto opts = saved.H.options();
  // the gradients reaching step t (now) and step t - 1 (prev): two buffers each, swapped
  at::Tensor dh_now = dH[Tn - 1].clone(), dc_now = at::zeros({B, N}, opts), dz_now = dZ[Tn - 1].clone();
  at::Tensor dh_prev = at::empty({B, N}, opts), dc_prev = at::empty({B, N}, opts), dz_prev = at::empty({B, L}, opts);
  std::vector<StepProduct> prod;
  for (int64_t l = 0; l < L; ++l) prod.emplace_back(Wt[l], B, Tn);
  std::vector<T> dzp(B), dzb(B);
  std::vector<at::Tensor> dA_ln(L);  // this step's gradient after layer norm, for its gain and bias
  for (int64_t l = 0; l < L; ++l) dA_ln[l] = at::empty({B, std::max<int64_t>(layout.ln_widths[l], 1)}, opts);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    if (t > 0) {
      std::copy_n(dH.data_ptr<T>() + (t - 1) * B * N, B * N, dh_prev.data_ptr<T>());
      std::copy_n(dZ.data_ptr<T>() + (t - 1) * B * L, B * L, dz_prev.data_ptr<T>());
    } else {
      dh_prev.zero_();
      dz_prev.zero_();
    }
    const Step<T> st(saved, t);
    const StepGrads<T> g{dh_now.data_ptr<T>(), dc_now.data_ptr<T>(), dz_now.data_ptr<T>(),
                         dh_prev.data_ptr<T>(), dc_prev.data_ptr<T>(), dz_prev.data_ptr<T>()};
    const T* dzl = dZline[t].data_ptr<T>();
    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t n = layout.ln_widths[l];
      const T* sp = saved.S[l][t].data_ptr<T>();
      const T* mean_p = n ? saved.Mean[l][t].data_ptr<T>() : nullptr;
      const T* rstd_p = n ? saved.Rstd[l][t].data_ptr<T>() : nullptr;
      const at::Tensor ds_t = res.dS[l][t];
      cell_backward(layout, st, g, l, B, saved.A[l][t].data_ptr<T>(), saved.TC[l][t].data_ptr<T>(), sp, dzl, mean_p,
                    rstd_p, n ? ln_w[l].data_ptr<T>() : nullptr, half_slope, ds_t.data_ptr<T>(),
                    dA_ln[l].data_ptr<T>(), dzp.data(), dzb.data());
      if (n) add_ln_param_grads(n, layout.rows[l], B, sp, dA_ln[l].data_ptr<T>(), mean_p, rstd_p,
                                res.dLNw[l].data_ptr<T>(), res.dLNb[l].data_ptr<T>());
      const at::Tensor du = prod[l](ds_t);
      scatter_du(layout, st, g, l, B, du.data_ptr<T>(), dzp.data(), dzb.data());
    }
    std::swap(dh_now, dh_prev);
    std::swap(dc_now, dc_prev);
    std::swap(dz_now, dz_prev);
  }
}

}  // namespace

// --- entry points: the Python side passes the named fields and gets named buffers back ---------

ForwardBuffers forward(const Layout& layout, at::Tensor pre0, at::Tensor h0, at::Tensor c0, at::Tensor z0,
                       std::vector<at::Tensor> W, std::vector<at::Tensor> bias, std::vector<at::Tensor> ln_w,
                       std::vector<at::Tensor> ln_b, at::Tensor slope, bool skip_copy, std::vector<at::Tensor> W16,
                       std::vector<at::Tensor> W8, std::vector<at::Tensor> W8_scale) {
  const int64_t Tn = pre0.size(0), B = pre0.size(1), L = layout.L(), N = layout.total();
  // per layer, W in float16 or in int8 where it holds the same numbers (inference streams it), else empty
  NarrowWeights narrow{W16, W8, W8_scale};
  narrow.W16.resize(L);
  narrow.W8.resize(L);
  narrow.W8_scale.resize(L);
  for (int64_t l = 0; l < L; ++l) {
    at::Tensor &w16 = narrow.W16[l], &w8 = narrow.W8[l], &scale = narrow.W8_scale[l];
    if (!w16.defined()) w16 = at::empty({0}, W[l].options().dtype(at::kHalf));
    if (!w8.defined()) w8 = at::empty({0}, W[l].options().dtype(at::kChar));
    TORCH_CHECK(!w16.numel() || (w16.scalar_type() == at::kHalf && w16.sizes() == W[l].sizes() && w16.is_contiguous()),
                "W16[", l, "] must be W[", l, "] in float16, or empty");
    TORCH_CHECK(!w8.numel() || (w8.scalar_type() == at::kChar && w8.sizes() == W[l].sizes() && w8.is_contiguous() &&
                                scale.defined() && scale.scalar_type() == at::kFloat && scale.is_contiguous() &&
                                scale.sizes() == at::IntArrayRef({3, layout.rows[l]}) && W[l].scalar_type() == at::kFloat),
                "W8[", l, "] must be float32 W[", l, "] in int8 with W8_scale[", l, "] (3, rows) float32, or empty");
  }
  auto opts = pre0.options();
  ForwardBuffers buf;
  buf.H = at::empty({Tn + 1, B, N}, opts);
  buf.C = at::empty({Tn + 1, B, N}, opts);
  buf.Z = at::empty({Tn + 1, B, L}, opts);
  buf.Zsoft = at::zeros({Tn, B, L}, opts);
  buf.Zline = at::zeros({Tn, B, L}, opts);
  buf.H[0].copy_(h0);
  buf.C[0].copy_(c0);
  buf.Z[0].copy_(z0);
  for (int64_t l = 0; l < L; ++l) {
    if (!layout.has_z[l]) buf.Z[0].select(1, l).zero_();  // a layer without detector never flushes
    buf.U.push_back(at::empty({Tn, B, layout.in_widths[l]}, opts));
    buf.S.push_back(at::empty({Tn, B, layout.rows[l]}, opts));
    buf.A.push_back(at::empty({Tn, B, 4 * layout.sizes[l]}, opts));
    buf.TC.push_back(at::empty({Tn, B, layout.sizes[l]}, opts));
    buf.Mean.push_back(at::empty({Tn, B}, opts));
    buf.Rstd.push_back(at::empty({Tn, B}, opts));
  }
  const double a = slope.item<double>();
  AT_DISPATCH_FLOATING_TYPES(pre0.scalar_type(), "hmlstm_forward", [&] {
    if (skip_copy && B == 1)
      infer_loop<scalar_t>(layout, pre0.contiguous(), W, narrow, bias, ln_w, ln_b, a, buf);
    else
      forward_loop<scalar_t>(layout, pre0, W, bias, ln_w, ln_b, a, skip_copy, buf);
  });
  return buf;
}

BackwardResult backward(const Layout& layout, at::Tensor dH, at::Tensor dZ, at::Tensor dZline, at::Tensor H,
                        at::Tensor C, at::Tensor Z, at::Tensor Zsoft, std::vector<at::Tensor> S,
                        std::vector<at::Tensor> A, std::vector<at::Tensor> TC, std::vector<at::Tensor> Mean,
                        std::vector<at::Tensor> Rstd, std::vector<at::Tensor> W, std::vector<at::Tensor> ln_w,
                        at::Tensor slope) {
  const int64_t L = layout.L();
  auto opts = H.options();
  ForwardBuffers saved{H, C, Z, Zsoft, at::Tensor(), {}, S, A, TC, Mean, Rstd};
  BackwardResult res;
  std::vector<at::Tensor> Wt;
  for (int64_t l = 0; l < L; ++l) {
    Wt.push_back(W[l].t());  // a view: StepProduct packs W itself
    res.dS.push_back(at::empty_like(S[l]));
    res.dLNw.push_back(at::zeros({layout.ln_widths[l]}, opts));
    res.dLNb.push_back(at::zeros({layout.ln_widths[l]}, opts));
  }
  const double a = slope.item<double>();
  AT_DISPATCH_FLOATING_TYPES(H.scalar_type(), "hmlstm_backward", [&] {
    backward_loop<scalar_t>(layout, dH.contiguous(), dZ.contiguous(), dZline.contiguous(), saved, Wt, ln_w, a, res);
  });
  return res;
}

// The buffers go to Python by value: a reference to a struct member would keep the whole struct
// (every buffer of the step) alive as long as any one tensor of it lives.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  py::class_<Layout>(m, "Layout")
      .def(py::init<>())
      .def_readwrite("sizes", &Layout::sizes)
      .def_readwrite("offsets", &Layout::offsets)
      .def_readwrite("rows", &Layout::rows)
      .def_readwrite("above", &Layout::above)
      .def_readwrite("below", &Layout::below)
      .def_readwrite("in_widths", &Layout::in_widths)
      .def_readwrite("ln_widths", &Layout::ln_widths)
      .def_readwrite("has_z", &Layout::has_z)
      .def_readwrite("ln", &Layout::ln)
      .def_readwrite("nested", &Layout::nested);
  py::class_<ForwardBuffers>(m, "ForwardBuffers")
      .def_property_readonly("H", [](const ForwardBuffers& b) { return b.H; })
      .def_property_readonly("C", [](const ForwardBuffers& b) { return b.C; })
      .def_property_readonly("Z", [](const ForwardBuffers& b) { return b.Z; })
      .def_property_readonly("Zsoft", [](const ForwardBuffers& b) { return b.Zsoft; })
      .def_property_readonly("Zline", [](const ForwardBuffers& b) { return b.Zline; })
      .def_property_readonly("U", [](const ForwardBuffers& b) { return b.U; })
      .def_property_readonly("S", [](const ForwardBuffers& b) { return b.S; })
      .def_property_readonly("A", [](const ForwardBuffers& b) { return b.A; })
      .def_property_readonly("TC", [](const ForwardBuffers& b) { return b.TC; })
      .def_property_readonly("Mean", [](const ForwardBuffers& b) { return b.Mean; })
      .def_property_readonly("Rstd", [](const ForwardBuffers& b) { return b.Rstd; });
  py::class_<BackwardResult>(m, "BackwardResult")
      .def_property_readonly("dS", [](const BackwardResult& b) { return b.dS; })
      .def_property_readonly("dLNw", [](const BackwardResult& b) { return b.dLNw; })
      .def_property_readonly("dLNb", [](const BackwardResult& b) { return b.dLNb; });
  m.def("set_step_product", [](const std::string& name) {
    TORCH_CHECK(name == "packed" || name == "blocked" || name == "mm", "unknown step product ", name);
    preferred_path = name == "packed" ? ProductPath::kPacked : name == "blocked" ? ProductPath::kBlocked : ProductPath::kMm;
  }, "the training loops' per-step product where it can serve: packed (MKL), blocked (ours, AVX2) or mm");
  m.def("step_product_path", [](int64_t batch, int64_t steps) {
    return std::string(path_name(product_path(at::kFloat, batch, steps)));
  }, "how the training loops multiply, for float32 loops of this batch and length");
#if HMLSTM_AVX2
  m.def("pack_panels", &pack_panels, "M (K, N) float32 laid out for the blocked kernel (tests and benchmarks)");
  m.def("blocked_product", [](const at::Tensor& x, const at::Tensor& panels, int64_t N) {
    TORCH_CHECK(x.scalar_type() == at::kFloat && panels.dim() == 3 && panels.size(1) == x.size(1), "bad operands");
    return blocked_product(x.contiguous(), panels, N);
  }, "x times the N-column matrix laid out by pack_panels (tests and benchmarks)");
#endif
  m.def("blocked_product_built", [] { return kBlockedBuilt; });
  m.def("work_count", [] { return std::make_pair(work_count.dense, work_count.done); },
        "multiply-adds of the dense path and of the inference loop, summed since the last reset");
  m.def("reset_work_count", [] { work_count = WorkCount(); });
  m.def("set_infer_threads", [](int64_t n) { infer_threads = n; },
        "threads of this (calling) thread's batch-1 inference loops; 0: torch's intra-op thread count");
  m.def("infer_threads", [] { return infer_threads; });
  m.def("forward", &forward, "HM-LSTM forward time loop", py::arg("layout"), py::arg("pre0"), py::arg("h0"),
        py::arg("c0"), py::arg("z0"), py::arg("W"), py::arg("bias"), py::arg("ln_w"), py::arg("ln_b"),
        py::arg("slope"), py::arg("skip_copy"), py::arg("W16") = std::vector<at::Tensor>(),
        py::arg("W8") = std::vector<at::Tensor>(), py::arg("W8_scale") = std::vector<at::Tensor>());
  m.def("backward", &backward, "HM-LSTM backward time loop", py::arg("layout"), py::arg("dH"), py::arg("dZ"),
        py::arg("dZline"), py::arg("H"), py::arg("C"), py::arg("Z"), py::arg("Zsoft"), py::arg("S"), py::arg("A"),
        py::arg("TC"), py::arg("Mean"), py::arg("Rstd"), py::arg("W"), py::arg("ln_w"), py::arg("slope"));
}
