// The time loops of the fused HM-LSTM (model/fused.py) in C++, for the CPU.
//
// Same equations, same buffers and same order as the Python loops in model/fused.py;
// what changes is that each layer step is one matrix product plus one pass over the
// rows, instead of some twenty tensor operations each paying the interpreter's toll.
// Rows of the batch are independent within a step, so the row passes run in parallel.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <vector>

namespace {

struct Layout {
  int64_t L, N;                       // layers, sum of widths
  std::vector<int64_t> H, off, rows;  // width, offset in the side-by-side state, rows of s (4H [+1])
  std::vector<bool> has_z;
  int64_t ln;                         // 0 none, 1 gates (4H), 2 all rows
  bool nested;
  double slope;
  int64_t ln_width(int64_t l) const { return ln == 0 ? 0 : (ln == 1 ? 4 * H[l] : rows[l]); }
  int64_t in_width(int64_t l) const {
    return H[l] + (l + 1 < L ? H[l + 1] : 0) + (l > 0 ? H[l - 1] : 0);
  }
};

Layout make_layout(const std::vector<int64_t>& sizes, const std::vector<bool>& has_z,
                   int64_t ln, bool nested, double slope) {
  Layout y;
  y.L = sizes.size();
  y.H = sizes;
  y.has_z = has_z;
  y.ln = ln;
  y.nested = nested;
  y.slope = slope;
  int64_t o = 0;
  for (int64_t l = 0; l < y.L; ++l) {
    y.off.push_back(o);
    o += sizes[l];
    y.rows.push_back(4 * sizes[l] + (has_z[l] ? 1 : 0));
  }
  y.N = o;
  return y;
}

// Without gradients, layers above the first compute their matrix product over the rows that
// do not COPY only (not with layer norm over all rows, where the z row depends on the gates).
// With gradients every row needs its gates: the straight-through gradient of z_t^{l-1} and
// z_{t-1}^l on a COPY step is made of the gates that an UPDATE or FLUSH would have used.
inline bool compacts(const Layout& y, const std::vector<int64_t>& live, int64_t B, bool skip_copy) {
  return skip_copy && y.ln != 2 && static_cast<int64_t>(live.size()) < B;
}

// x M for a matrix M fixed for the whole time loop and a small batch x (B, K). MKL's packed
// GEMM (the op behind torch's mkl::_mkl_linear) lays M out once per loop; a plain mm lays it
// out again at every step, which at batch 32 was about a fifth of the products' time.
// Elsewhere it is a plain mm: without MKL, in float64, for another batch size, and where the
// packing does not pay: loops too short to repay it (one character typed into the app) and
// a batch of a few rows (matrix-vector products, 20-30% slower packed).
class StepProduct {
 public:
  StepProduct(const at::Tensor& M, int64_t B, int64_t steps) : m_(M), batch_(B) {
    if (M.scalar_type() != at::kFloat || steps < 16 || B < 8) return;
    auto& dispatcher = c10::Dispatcher::singleton();
    auto linear = dispatcher.findSchema({"mkl::_mkl_linear", ""});
    auto reorder = dispatcher.findSchema({"mkl::_mkl_reorder_linear_weight", ""});
    if (!linear || !reorder) return;
    weight_ = M.t().contiguous();  // a linear layer's (out, in) weight: x M = x weight^T
    packed_ = reorder->typed<at::Tensor(const at::Tensor&, int64_t)>().call(weight_, B);
    linear_ = linear->typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                       const std::optional<at::Tensor>&, int64_t)>();
  }
  // x M
  at::Tensor operator()(const at::Tensor& x) const {
    return packs(x) ? linear_->call(x, packed_, weight_, std::nullopt, batch_) : at::mm(x, m_);
  }

 private:
  bool packs(const at::Tensor& x) const {
    return packed_.defined() && x.size(0) == batch_ && x.is_contiguous();
  }
  at::Tensor m_, weight_, packed_;
  int64_t batch_;
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

template <typename T>
void forward_impl(const Layout& y, const at::Tensor& pre0, const std::vector<at::Tensor>& W,
                  const std::vector<at::Tensor>& bias, const std::vector<at::Tensor>& ln_w,
                  const std::vector<at::Tensor>& ln_b, at::Tensor& Hbuf, at::Tensor& Cbuf,
                  at::Tensor& Zbuf, at::Tensor& Zsoft, at::Tensor& Zline, std::vector<at::Tensor>& U,
                  std::vector<at::Tensor>& S, std::vector<at::Tensor>& A,
                  std::vector<at::Tensor>& TC, std::vector<at::Tensor>& Mean,
                  std::vector<at::Tensor>& Rstd, bool skip_copy) {
  const int64_t Tn = Zsoft.size(0), B = Zsoft.size(1), L = y.L, N = y.N;
  const T half_slope = T(0.5 * y.slope);
  std::vector<StepProduct> prod;
  for (int64_t l = 0; l < L; ++l) prod.emplace_back(W[l], B, Tn);
  T* Hb = Hbuf.data_ptr<T>();
  T* Cb = Cbuf.data_ptr<T>();
  T* Zb = Zbuf.data_ptr<T>();
  T* Zs = Zsoft.data_ptr<T>();
  T* Zl = Zline.data_ptr<T>();
  const T* pre0p = pre0.data_ptr<T>();
  for (int64_t t = 0; t < Tn; ++t) {
    T* hprev = Hb + t * B * N;
    T* hnow = hprev + B * N;
    T* zprev = Zb + t * B * L;
    T* znow = zprev + B * L;
    T* cprev = Cb + t * B * N;
    T* cnow = cprev + B * N;
    T* zs = Zs + t * B * L;
    T* zl = Zl + t * B * L;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t H = y.H[l], G = y.rows[l], I = y.in_width(l), o = y.off[l];
      T* u = U[l].data_ptr<T>() + t * B * I;
      T* sp = S[l].data_ptr<T>() + t * B * G;
      const T* pre = l == 0 ? pre0p + t * B * G : bias[l].data_ptr<T>();
      const int64_t pre_stride = l == 0 ? G : 0;        // pre0 has a row per batch entry, a bias one row
      // u = [h_{t-1}^l, z_{t-1}^l h_{t-1}^{l+1}, z_t^{l-1} h_t^{l-1}]; `live`: the rows that do not COPY
      at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          T* ub = u + b * I;
          const T* hp = hprev + b * N;
          std::copy(hp + o, hp + o + H, ub);
          int64_t k = H;
          const T zp = y.has_z[l] ? zprev[b * L + l] : T(0);
          T zb = T(1);
          if (l + 1 < L) {
            const int64_t oa = y.off[l + 1];
            for (int64_t j = 0; j < y.H[l + 1]; ++j) ub[k + j] = zp * hp[oa + j];
            k += y.H[l + 1];
          }
          if (l > 0) {
            zb = znow[b * L + l - 1];
            const T* hn = hnow + b * N + y.off[l - 1];
            for (int64_t j = 0; j < y.H[l - 1]; ++j) ub[k + j] = zb * hn[j];
          }
        }
      });
      std::vector<int64_t> live;  // only inference compacts: with gradients every row is needed
      for (int64_t b = 0; skip_copy && b < B; ++b) {
        const T zp = y.has_z[l] ? zprev[b * L + l] : T(0);
        const T zb = l > 0 ? znow[b * L + l - 1] : T(1);
        if (zp != T(0) || zb != T(0)) live.push_back(b);
      }
      at::Tensor s = S[l][t];
      const bool compacted = compacts(y, live, B, skip_copy);
      if (compacted) {
        for (int64_t b = 0; b < B; ++b) std::copy(pre + b * pre_stride, pre + b * pre_stride + G, sp + b * G);
        // COPY rows carry h and c over: of s they need the z row alone (one dot product); their
        // gates are zeroed (finite, and unread: there is no backward here)
        const T* w = W[l].data_ptr<T>();
        size_t next = 0;
        for (int64_t b = 0; b < B; ++b) {
          if (next < live.size() && live[next] == b) { ++next; continue; }
          T* sb = sp + b * G;
          if (y.has_z[l]) {
            T acc = sb[4 * H];
            const T* ub = u + b * I;
            for (int64_t k = 0; k < I; ++k) acc += ub[k] * w[k * G + 4 * H];
            sb[4 * H] = acc;
          }
          std::fill(sb, sb + 4 * H, T(0));
        }
        if (!live.empty()) {
          at::Tensor rows = at::tensor(live, at::kLong);
          s.index_copy_(0, rows, s.index_select(0, rows).addmm_(U[l][t].index_select(0, rows), W[l]));
        } else {
          // every row COPYs: h and c carry over, z comes from its row; nothing else is needed
          for (int64_t b = 0; b < B; ++b) {
            std::copy(hprev + b * N + o, hprev + b * N + o + H, hnow + b * N + o);
            std::copy(cprev + b * N + o, cprev + b * N + o + H, cnow + b * N + o);
            T line = T(0), soft = T(0), z = T(0);
            if (y.has_z[l]) {
              line = sp[b * G + 4 * H] * half_slope + T(0.5);
              soft = std::min(T(1), std::max(T(0), line));
              z = (!y.nested && soft > T(0.5)) ? T(1) : T(0);     // nested: z^{l-1} = 0 here
            }
            zl[b * L + l] = line;
            zs[b * L + l] = soft;
            znow[b * L + l] = z;
          }
          continue;
        }
      }
      // s = pre + u W: the product here, the sum in the row pass below (already whole when compacted)
      const at::Tensor uw = compacted ? at::Tensor() : prod[l](U[l][t]);
      const T* uwp = compacted ? nullptr : uw.data_ptr<T>();
      T* ap = A[l].data_ptr<T>() + t * B * 4 * H;
      T* tcp = TC[l].data_ptr<T>() + t * B * H;
      const int64_t n = y.ln_width(l);
      const T* gw = n ? ln_w[l].data_ptr<T>() : nullptr;
      const T* gb = n ? ln_b[l].data_ptr<T>() : nullptr;
      T* mean_p = Mean[l].data_ptr<T>() + t * B;
      T* rstd_p = Rstd[l].data_ptr<T>() + t * B;
      // one pass per row: s, its layer norm, the gates, z, c_t and h_t
      at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
        std::vector<T> normed(n ? G : 0);
        for (int64_t b = b0; b < b1; ++b) {
          T* sb = sp + b * G;
          if (uwp) {
            const T* pb = pre + b * pre_stride;
            const T* rb = uwp + b * G;
#pragma omp simd
            for (int64_t j = 0; j < G; ++j) sb[j] = pb[j] + rb[j];
          }
          const T* ab = sb;  // the nonlinearities' inputs: s, or s with its first n rows layer-normalised
          if (n) {
            double m = 0, v = 0;
            for (int64_t j = 0; j < n; ++j) m += sb[j];
            m /= n;
            for (int64_t j = 0; j < n; ++j) v += (sb[j] - m) * (sb[j] - m);
            v /= n;
            const double r = 1.0 / std::sqrt(v + 1e-5);
            mean_p[b] = T(m);
            rstd_p[b] = T(r);
            for (int64_t j = 0; j < n; ++j) normed[j] = T((sb[j] - m) * r) * gw[j] + gb[j];
            for (int64_t j = n; j < G; ++j) normed[j] = sb[j];
            ab = normed.data();
          }
          T* act = ap + b * 4 * H;  // [f, i, o] = sigm, g = tanh
#pragma omp simd
          for (int64_t j = 0; j < 3 * H; ++j) act[j] = sigmoid(ab[j]);
#pragma omp simd
          for (int64_t j = 3 * H; j < 4 * H; ++j) act[j] = tanh_(ab[j]);
          const T zp = y.has_z[l] ? zprev[b * L + l] : T(0);
          const T zb = l > 0 ? znow[b * L + l - 1] : T(1);
          if (y.has_z[l]) {
            const T line = ab[4 * H] * half_slope + T(0.5);  // (a*s + 1)/2, unclamped
            const T soft = std::min(T(1), std::max(T(0), line));
            zl[b * L + l] = line;
            zs[b * L + l] = soft;
            T z = soft > T(0.5) ? T(1) : T(0);
            if (y.nested && l > 0) z *= zb;
            znow[b * L + l] = z;
          } else {
            zs[b * L + l] = T(0);
            znow[b * L + l] = T(0);
          }
          const T copy = (T(1) - zp) * (T(1) - zb), update = (T(1) - zp) * zb, keep = T(1) - copy;
          const T* cp = cprev + b * N + o;
          const T* hp = hprev + b * N + o;
          T* cn = cnow + b * N + o;
          T* hn = hnow + b * N + o;
          T* tc = tcp + b * H;
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
  }
}

template <typename T>
void backward_impl(const Layout& y, at::Tensor dH_out, at::Tensor dZ_out, at::Tensor dZline,
                   const at::Tensor& Hbuf,
                   const at::Tensor& Cbuf, const at::Tensor& Zbuf, const at::Tensor& Zsoft,
                   const std::vector<at::Tensor>& S, const std::vector<at::Tensor>& A,
                   const std::vector<at::Tensor>& TC, const std::vector<at::Tensor>& Wt,
                   const std::vector<at::Tensor>& ln_w, const std::vector<at::Tensor>& Mean,
                   const std::vector<at::Tensor>& Rstd, std::vector<at::Tensor>& dS,
                   std::vector<at::Tensor>& dLNw, std::vector<at::Tensor>& dLNb) {
  const int64_t Tn = Zsoft.size(0), B = Zsoft.size(1), L = y.L, N = y.N;
  const T half_slope = T(0.5 * y.slope);
  auto opts = Hbuf.options();
  // the gradients reaching step t (dH, dC, dZ) and step t - 1 (dHp, dCp, dZp): two buffers each, swapped
  at::Tensor dH = dH_out[Tn - 1].clone(), dC = at::zeros({B, N}, opts), dZ = dZ_out[Tn - 1].clone();
  at::Tensor dHp = at::empty({B, N}, opts), dCp = at::empty({B, N}, opts), dZp = at::empty({B, L}, opts);
  std::vector<StepProduct> prod;
  for (int64_t l = 0; l < L; ++l) prod.emplace_back(Wt[l], B, Tn);
  std::vector<T> dzp(B), dzb(B);
  std::vector<at::Tensor> dA_ln(L);  // this step's gradient after layer norm, for gamma and beta
  for (int64_t l = 0; l < L; ++l) dA_ln[l] = at::empty({B, std::max<int64_t>(y.ln_width(l), 1)}, opts);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    if (t > 0) {
      std::copy_n(dH_out.data_ptr<T>() + (t - 1) * B * N, B * N, dHp.data_ptr<T>());
      std::copy_n(dZ_out.data_ptr<T>() + (t - 1) * B * L, B * L, dZp.data_ptr<T>());
    } else {
      dHp.zero_();
      dZp.zero_();
    }
    T* dh_p = dH.data_ptr<T>();
    T* dc_p = dC.data_ptr<T>();
    T* dz_p = dZ.data_ptr<T>();
    T* dhp_p = dHp.data_ptr<T>();
    T* dcp_p = dCp.data_ptr<T>();
    T* dzpv = dZp.data_ptr<T>();
    const T* hprev = Hbuf[t].data_ptr<T>();
    const T* hnow = Hbuf[t + 1].data_ptr<T>();
    const T* cprev = Cbuf[t].data_ptr<T>();
    const T* zprev = Zbuf[t].data_ptr<T>();
    const T* znow = Zbuf[t + 1].data_ptr<T>();
    const T* zs = Zsoft[t].data_ptr<T>();
    const T* dzl = dZline[t].data_ptr<T>();
    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t H = y.H[l], G = y.rows[l], I = y.in_width(l), o = y.off[l], n = y.ln_width(l);
      const T* ap = A[l][t].data_ptr<T>();
      const T* tcp = TC[l][t].data_ptr<T>();
      const T* sp = S[l][t].data_ptr<T>();
      T* dsp = dS[l][t].data_ptr<T>();
      const T* gw = n ? ln_w[l].data_ptr<T>() : nullptr;
      const T* mean_p = n ? Mean[l][t].data_ptr<T>() : nullptr;
      const T* rstd_p = n ? Rstd[l][t].data_ptr<T>() : nullptr;
      // pass 1, per row: from dh, dc, dz to ds (and the masks' share of dz_{t-1}, dz_t^{l-1})
      at::parallel_for(0, B, 8, [&](int64_t b0, int64_t b1) {
        std::vector<T> da(G);
        for (int64_t b = b0; b < b1; ++b) {
          const T zp = y.has_z[l] ? zprev[b * L + l] : T(0);
          const T zb = l > 0 ? znow[b * L + l - 1] : T(1);
          const T copy = (T(1) - zp) * (T(1) - zb), update = (T(1) - zp) * zb, keep = T(1) - copy;
          const T* act = ap + b * 4 * H;
          const T* tc = tcp + b * H;
          const T* cp = cprev + b * N + o;
          const T* hp = hprev + b * N + o;
          const T* dh = dh_p + b * N + o;
          const T* dc = dc_p + b * N + o;
          T* dcp = dcp_p + b * N + o;
          T* dhp = dhp_p + b * N + o;
          T d_update = 0, d_keep = 0, d_copy = 0;
#pragma omp simd reduction(+ : d_update, d_keep, d_copy)
          for (int64_t j = 0; j < H; ++j) {
            const T f = act[j], i = act[H + j], og = act[2 * H + j], g = act[3 * H + j], tcj = tc[j];
            const T dhk = dh[j] * keep;
            const T dcn = dc[j] + dhk * og * (T(1) - tcj * tcj);
            const T dcnk = dcn * keep;
            const T d_f = dcn * update * cp[j], d_i = dcnk * g, d_g = dcnk * i, d_o = dhk * tcj;
            dcp[j] = dcn * (update * f + copy);
            dhp[j] += dh[j] * copy;
            d_update += dcn * f * cp[j];
            d_keep += dcn * i * g + dh[j] * og * tcj;
            d_copy += dcn * cp[j] + dh[j] * hp[j];
            da[j] = d_f * f * (T(1) - f);
            da[H + j] = d_i * i * (T(1) - i);
            da[2 * H + j] = d_o * og * (T(1) - og);
            da[3 * H + j] = d_g * (T(1) - g * g);
          }
          d_copy -= d_keep;  // keep = 1 - copy
          dzp[b] = -d_copy * (T(1) - zb) - d_update * zb;
          T dzb_b = (d_update - d_copy) * (T(1) - zp);
          if (y.has_z[l]) {
            T dz = dz_p[b * L + l];
            const T soft = zs[b * L + l];
            if (y.nested && l > 0) {
              dzb_b += dz * (soft > T(0.5) ? T(1) : T(0));
              dz *= zb;
            }
            // straight-through: dz/dz~ = 1; the hard sigmoid passes a/2 inside (0, 1);
            // the unclamped line (a*s + 1)/2 passes a/2 everywhere
            da[4 * H] = ((soft > T(0) && soft < T(1)) ? dz : T(0)) * half_slope + dzl[b * L + l] * half_slope;
          }
          dzb[b] = dzb_b;
          T* ds = dsp + b * G;
          if (n) {  // layer-norm backward over the first n rows
            std::copy(da.begin(), da.begin() + n, dA_ln[l].data_ptr<T>() + b * n);
            const T* sb = sp + b * G;
            const T m = mean_p[b], r = rstd_p[b];
            T mdn = 0, mdnx = 0;
            for (int64_t j = 0; j < n; ++j) {
              const T xh = (sb[j] - m) * r, dn = da[j] * gw[j];
              mdn += dn;
              mdnx += dn * xh;
            }
            mdn /= n;
            mdnx /= n;
            for (int64_t j = 0; j < n; ++j) {
              const T xh = (sb[j] - m) * r;
              ds[j] = r * (da[j] * gw[j] - mdn - xh * mdnx);
            }
            for (int64_t j = n; j < G; ++j) ds[j] = da[j];
          } else {
            std::copy(da.begin(), da.end(), ds);
          }
        }
      });
      if (n) {  // gamma and beta are shared by the rows: summed here, serially
        T* gwp = dLNw[l].data_ptr<T>();
        T* gbp = dLNb[l].data_ptr<T>();
        const T* dap = dA_ln[l].data_ptr<T>();
        for (int64_t b = 0; b < B; ++b) {
          const T* sb = sp + b * G;
          const T* dab = dap + b * n;
          const T m = mean_p[b], r = rstd_p[b];
          for (int64_t j = 0; j < n; ++j) {
            gwp[j] += dab[j] * (sb[j] - m) * r;
            gbp[j] += dab[j];
          }
        }
      }
      // back through u = [h_prev, zp*h_above, zb*h_below]
      const at::Tensor du = prod[l](dS[l][t]);
      const T* dup = du.data_ptr<T>();
      at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T* d = dup + b * I;
          const T* hp = hprev + b * N;
          T* dhp = dhp_p + b * N;
          for (int64_t j = 0; j < H; ++j) dhp[o + j] += d[j];
          int64_t k = H;
          if (l + 1 < L) {
            const T zp = zprev[b * L + l];
            const int64_t oa = y.off[l + 1];
            T acc = 0;
            for (int64_t j = 0; j < y.H[l + 1]; ++j) {
              dhp[oa + j] += zp * d[k + j];
              acc += d[k + j] * hp[oa + j];
            }
            dzp[b] += acc;
            k += y.H[l + 1];
          }
          if (l > 0) {
            const T zb = znow[b * L + l - 1];
            const int64_t ob = y.off[l - 1];
            const T* hn = hnow + b * N + ob;
            T* dhb = dh_p + b * N + ob;
            T acc = 0;
            for (int64_t j = 0; j < y.H[l - 1]; ++j) {
              dhb[j] += zb * d[k + j];
              acc += d[k + j] * hn[j];
            }
            dz_p[b * L + l - 1] += dzb[b] + acc;
          }
          if (y.has_z[l]) dzpv[b * L + l] += dzp[b];
        }
      });
    }
    std::swap(dH, dHp);
    std::swap(dC, dCp);
    std::swap(dZ, dZp);
  }
}

}  // namespace

// Entry points: the Python side allocates nothing but passes the weights; the buffers
// that the backward needs come back as lists, in the order model/fused.py expects.
std::vector<at::Tensor> hmlstm_forward(at::Tensor pre0, at::Tensor h0, at::Tensor c0, at::Tensor z0,
                                       std::vector<at::Tensor> W, std::vector<at::Tensor> bias,
                                       std::vector<at::Tensor> ln_w, std::vector<at::Tensor> ln_b,
                                       std::vector<int64_t> sizes, std::vector<bool> has_z,
                                       int64_t ln, bool nested, double slope, bool skip_copy) {
  const Layout y = make_layout(sizes, has_z, ln, nested, slope);
  const int64_t Tn = pre0.size(0), B = pre0.size(1), L = y.L;
  auto opts = pre0.options();
  at::Tensor Hbuf = at::empty({Tn + 1, B, y.N}, opts), Cbuf = at::empty({Tn + 1, B, y.N}, opts);
  at::Tensor Zbuf = at::empty({Tn + 1, B, L}, opts), Zsoft = at::zeros({Tn, B, L}, opts);
  at::Tensor Zline = at::zeros({Tn, B, L}, opts);
  Hbuf[0].copy_(h0);
  Cbuf[0].copy_(c0);
  Zbuf[0].copy_(z0);
  for (int64_t l = 0; l < L; ++l)
    if (!has_z[l]) Zbuf[0].select(1, l).zero_();  // a layer without detector never flushes
  std::vector<at::Tensor> U, S, A, TC, Mean, Rstd;
  for (int64_t l = 0; l < L; ++l) {
    U.push_back(at::empty({Tn, B, y.in_width(l)}, opts));
    S.push_back(at::empty({Tn, B, y.rows[l]}, opts));
    A.push_back(at::empty({Tn, B, 4 * y.H[l]}, opts));
    TC.push_back(at::empty({Tn, B, y.H[l]}, opts));
    Mean.push_back(at::empty({Tn, B}, opts));
    Rstd.push_back(at::empty({Tn, B}, opts));
  }
  AT_DISPATCH_FLOATING_TYPES(pre0.scalar_type(), "hmlstm_forward", [&] {
    forward_impl<scalar_t>(y, pre0, W, bias, ln_w, ln_b, Hbuf, Cbuf, Zbuf, Zsoft, Zline, U, S, A, TC, Mean, Rstd,
                           skip_copy);
  });
  std::vector<at::Tensor> out = {Hbuf, Cbuf, Zbuf, Zsoft, Zline};
  for (auto* v : {&U, &S, &A, &TC, &Mean, &Rstd}) out.insert(out.end(), v->begin(), v->end());
  return out;
}

// Returns dS (per layer, (T, B, rows)) and the layer-norm gains' and biases' gradients.
std::vector<at::Tensor> hmlstm_backward(at::Tensor dH_out, at::Tensor dZ_out, at::Tensor dZline,
                                        at::Tensor Hbuf,
                                        at::Tensor Cbuf, at::Tensor Zbuf, at::Tensor Zsoft,
                                        std::vector<at::Tensor> S, std::vector<at::Tensor> A,
                                        std::vector<at::Tensor> TC, std::vector<at::Tensor> W,
                                        std::vector<at::Tensor> ln_w, std::vector<at::Tensor> Mean,
                                        std::vector<at::Tensor> Rstd, std::vector<int64_t> sizes,
                                        std::vector<bool> has_z, int64_t ln, bool nested, double slope) {
  const Layout y = make_layout(sizes, has_z, ln, nested, slope);
  const int64_t L = y.L;
  auto opts = Hbuf.options();
  std::vector<at::Tensor> Wt, dS, dLNw, dLNb;
  for (int64_t l = 0; l < L; ++l) {
    Wt.push_back(W[l].t());  // a view: StepProduct packs W itself
    dS.push_back(at::empty_like(S[l]));
    dLNw.push_back(at::zeros({y.ln_width(l)}, opts));
    dLNb.push_back(at::zeros({y.ln_width(l)}, opts));
  }
  dH_out = dH_out.contiguous();
  dZ_out = dZ_out.contiguous();
  dZline = dZline.contiguous();
  AT_DISPATCH_FLOATING_TYPES(Hbuf.scalar_type(), "hmlstm_backward", [&] {
    backward_impl<scalar_t>(y, dH_out, dZ_out, dZline, Hbuf, Cbuf, Zbuf, Zsoft, S, A, TC, Wt, ln_w, Mean, Rstd,
                            dS, dLNw, dLNb);
  });
  std::vector<at::Tensor> out = dS;
  out.insert(out.end(), dLNw.begin(), dLNw.end());
  out.insert(out.end(), dLNb.begin(), dLNb.end());
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &hmlstm_forward, "HM-LSTM forward time loop");
  m.def("backward", &hmlstm_backward, "HM-LSTM backward time loop");
}
