// Naive twins: the obvious loops, double accumulation, no threads, no BLAS.
// Written independently of the fast kernels so that the two can check each
// other; clarity over speed everywhere.
#include "trainer/ops_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ratchet::train::ref {

namespace {

constexpr double kGeluScale = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluCube = 0.044715;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                     int T, int C) {
  // out [B,T,C], tokens [B,T], wte [V,C], wpe [T,C] or null
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const int tok = tokens[b * T + t];
      for (int c = 0; c < C; c++) {
        double v = wte[tok * C + c];
        if (wpe) v += wpe[t * C + c];
        out[(b * T + t) * C + c] = static_cast<float>(v);
      }
    }
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                      int T, int C) {
  // dwte [V,C], dwpe [T,C] or null, dout [B,T,C], tokens [B,T]
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const int tok = tokens[b * T + t];
      for (int c = 0; c < C; c++) {
        const float d = dout[(b * T + t) * C + c];
        dwte[tok * C + c] += d;
        if (dwpe) dwpe[t * C + c] += d;
      }
    }
  }
}

void matmul_forward(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [K,M]
  for (int n = 0; n < N; n++) {
    for (int m = 0; m < M; m++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += double(inp[n * K + k]) * w[k * M + m];
      out[n * M + m] = static_cast<float>(s);
    }
  }
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int N, int K, int M) {
  // dinp [N,K] or null, dw [K,M], dout [N,M], inp [N,K], w [K,M]
  if (dinp) {
    for (int n = 0; n < N; n++) {
      for (int k = 0; k < K; k++) {
        double s = 0;
        for (int m = 0; m < M; m++) s += double(dout[n * M + m]) * w[k * M + m];
        dinp[n * K + k] = static_cast<float>(s);
      }
    }
  }
  for (int k = 0; k < K; k++) {
    for (int m = 0; m < M; m++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += double(inp[n * K + k]) * dout[n * M + m];
      dw[k * M + m] += static_cast<float>(s);
    }
  }
}

void matmul_wt_forward(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [M,K]
  for (int n = 0; n < N; n++) {
    for (int m = 0; m < M; m++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += double(inp[n * K + k]) * w[m * K + k];
      out[n * M + m] = static_cast<float>(s);
    }
  }
}

void matmul_wt_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        int N, int K, int M) {
  // dinp [N,K] or null, dw [M,K], dout [N,M], inp [N,K], w [M,K]
  if (dinp) {
    for (int n = 0; n < N; n++) {
      for (int k = 0; k < K; k++) {
        double s = 0;
        for (int m = 0; m < M; m++) s += double(dout[n * M + m]) * w[m * K + k];
        dinp[n * K + k] = static_cast<float>(s);
      }
    }
  }
  for (int m = 0; m < M; m++) {
    for (int k = 0; k < K; k++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += double(dout[n * M + m]) * inp[n * K + k];
      dw[m * K + k] += static_cast<float>(s);
    }
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* g,
                       const float* b, int N, int C) {
  // out [N,C], mean [N], rstd [N], inp [N,C], g [C], b [C]
  for (int n = 0; n < N; n++) {
    const float* x = inp + n * C;
    double m = 0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    double v = 0;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    const double r = 1.0 / std::sqrt(v + kNormEps);
    for (int c = 0; c < C; c++) {
      out[n * C + c] = static_cast<float>((x[c] - m) * r * g[c] + b[c]);
    }
    mean[n] = static_cast<float>(m);
    rstd[n] = static_cast<float>(r);
  }
}

void layernorm_backward(float* dinp, float* dg, float* db, const float* dout, const float* inp,
                        const float* g, const float* mean, const float* rstd, int N, int C) {
  // dinp [N,C], dg [C], db [C], dout [N,C], inp [N,C], g [C], mean/rstd [N]
  for (int n = 0; n < N; n++) {
    const float* x = inp + n * C;
    const float* dy = dout + n * C;
    double sum_dn = 0, sum_dn_xhat = 0;
    for (int c = 0; c < C; c++) {
      const double xhat = (x[c] - double(mean[n])) * rstd[n];
      const double dn = double(dy[c]) * g[c];
      sum_dn += dn;
      sum_dn_xhat += dn * xhat;
    }
    for (int c = 0; c < C; c++) {
      const double xhat = (x[c] - double(mean[n])) * rstd[n];
      const double dn = double(dy[c]) * g[c];
      const double dx = rstd[n] * (dn - sum_dn / C - xhat * sum_dn_xhat / C);
      dinp[n * C + c] += static_cast<float>(dx);
    }
  }
  for (int c = 0; c < C; c++) {
    double sg = 0, sb = 0;
    for (int n = 0; n < N; n++) {
      const double xhat = (inp[n * C + c] - double(mean[n])) * rstd[n];
      sg += dout[n * C + c] * xhat;
      sb += dout[n * C + c];
    }
    dg[c] += static_cast<float>(sg);
    db[c] += static_cast<float>(sb);
  }
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* g, int N, int C,
                     float eps) {
  // out [N,C], rstd [N], inp [N,C], g [C] or null
  for (int n = 0; n < N; n++) {
    const float* x = inp + n * C;
    double ss = 0;
    for (int c = 0; c < C; c++) ss += double(x[c]) * x[c];
    const double r = 1.0 / std::sqrt(ss / C + eps);
    for (int c = 0; c < C; c++) {
      out[n * C + c] = static_cast<float>(x[c] * r * (g ? g[c] : 1.0));
    }
    rstd[n] = static_cast<float>(r);
  }
}

void rmsnorm_backward(float* dinp, float* dg, const float* dout, const float* inp, const float* g,
                      const float* rstd, int N, int C) {
  // dinp [N,C], dg [C] (if g), dout [N,C], inp [N,C], g [C] or null, rstd [N]
  for (int n = 0; n < N; n++) {
    const float* x = inp + n * C;
    const float* dy = dout + n * C;
    const double r = rstd[n];
    double s = 0;  // sum of dn * x
    for (int c = 0; c < C; c++) s += double(dy[c]) * (g ? g[c] : 1.0) * x[c];
    for (int c = 0; c < C; c++) {
      const double dn = double(dy[c]) * (g ? g[c] : 1.0);
      dinp[n * C + c] += static_cast<float>(r * dn - x[c] * r * r * r * s / C);
    }
  }
  if (g && dg) {
    for (int c = 0; c < C; c++) {
      double s = 0;
      for (int n = 0; n < N; n++) {
        s += double(dout[n * C + c]) * inp[n * C + c] * rstd[n];
      }
      dg[c] += static_cast<float>(s);
    }
  }
}

void gelu_forward(float* out, const float* inp, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double x = inp[i];
    out[i] =
        static_cast<float>(0.5 * x * (1 + std::tanh(kGeluScale * (x + kGeluCube * x * x * x))));
  }
}

void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double x = inp[i];
    const double u = kGeluScale * (x + kGeluCube * x * x * x);
    const double th = std::tanh(u);
    const double du = kGeluScale * (1 + 3 * kGeluCube * x * x);
    const double grad = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du;
    dinp[i] = static_cast<float>(grad * dout[i]);
  }
}

void relu2_forward(float* out, const float* inp, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double r = inp[i] > 0 ? inp[i] : 0.0;
    out[i] = static_cast<float>(r * r);
  }
}

void relu2_backward(float* dinp, const float* dout, const float* inp, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double r = inp[i] > 0 ? inp[i] : 0.0;
    dinp[i] = static_cast<float>(2 * r * dout[i]);
  }
}

void swiglu_forward(float* out, const float* inp, int N, int H) {
  // out [N,H], inp [N,2H] = [gate | up]
  for (int n = 0; n < N; n++) {
    for (int h = 0; h < H; h++) {
      const double gate = inp[n * 2 * H + h];
      const double up = inp[n * 2 * H + H + h];
      out[n * H + h] = static_cast<float>(gate * Sigmoid(gate) * up);
    }
  }
}

void swiglu_backward(float* dinp, const float* dout, const float* inp, int N, int H) {
  // dinp [N,2H], dout [N,H], inp [N,2H]
  for (int n = 0; n < N; n++) {
    for (int h = 0; h < H; h++) {
      const double gate = inp[n * 2 * H + h];
      const double up = inp[n * 2 * H + H + h];
      const double s = Sigmoid(gate);
      const double d = dout[n * H + h];
      dinp[n * 2 * H + h] = static_cast<float>(d * up * s * (1 + gate * (1 - s)));
      dinp[n * 2 * H + H + h] = static_cast<float>(d * gate * s);
    }
  }
}

void qknorm_forward(float* out, float* rstd, const float* inp, int B, int T, int C, int NH) {
  // out [B,T,3C], rstd [B,T,2,NH], inp [B,T,3C]
  const int hs = C / NH;
  for (int bt = 0; bt < B * T; bt++) {
    const float* x = inp + bt * 3 * C;
    float* y = out + bt * 3 * C;
    for (int part = 0; part < 2; part++) {
      for (int h = 0; h < NH; h++) {
        const int off = part * C + h * hs;
        double ss = 0;
        for (int i = 0; i < hs; i++) ss += double(x[off + i]) * x[off + i];
        const double r = 1.0 / std::sqrt(ss / hs + kQkNormEps);
        for (int i = 0; i < hs; i++) y[off + i] = static_cast<float>(x[off + i] * r);
        rstd[(bt * 2 + part) * NH + h] = static_cast<float>(r);
      }
    }
    for (int i = 2 * C; i < 3 * C; i++) y[i] = x[i];
  }
}

void qknorm_backward(float* dinp, const float* dout, const float* inp, const float* rstd, int B,
                     int T, int C, int NH) {
  // dinp [B,T,3C], dout [B,T,3C], inp [B,T,3C], rstd [B,T,2,NH]
  const int hs = C / NH;
  for (int bt = 0; bt < B * T; bt++) {
    const float* x = inp + bt * 3 * C;
    const float* dy = dout + bt * 3 * C;
    float* dx = dinp + bt * 3 * C;
    for (int part = 0; part < 2; part++) {
      for (int h = 0; h < NH; h++) {
        const int off = part * C + h * hs;
        const double r = rstd[(bt * 2 + part) * NH + h];
        double s = 0;
        for (int i = 0; i < hs; i++) s += double(dy[off + i]) * x[off + i];
        for (int i = 0; i < hs; i++) {
          dx[off + i] += static_cast<float>(r * dy[off + i] - x[off + i] * r * r * r * s / hs);
        }
      }
    }
    for (int i = 2 * C; i < 3 * C; i++) dx[i] += dy[i];
  }
}

void rope_tables(float* cos_table, float* sin_table, int T, int hs, float rope_base) {
  // cos_table, sin_table [T, hs/2]
  const int half = hs / 2;
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < half; i++) {
      const double angle = t * std::pow(double(rope_base), -2.0 * i / hs);
      cos_table[t * half + i] = static_cast<float>(std::cos(angle));
      sin_table[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }
}

void rope_forward(float* out, const float* inp, const float* cos_table, const float* sin_table,
                  int B, int T, int C, int NH) {
  // out [B,T,3C], inp [B,T,3C], tables [T, hs/2]
  const int hs = C / NH, half = hs / 2;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const float* x = inp + (b * T + t) * 3 * C;
      float* y = out + (b * T + t) * 3 * C;
      for (int part = 0; part < 2; part++) {
        for (int h = 0; h < NH; h++) {
          const int off = part * C + h * hs;
          for (int i = 0; i < half; i++) {
            const double c = cos_table[t * half + i], s = sin_table[t * half + i];
            const double a = x[off + i], bb = x[off + i + half];
            y[off + i] = static_cast<float>(a * c - bb * s);
            y[off + i + half] = static_cast<float>(a * s + bb * c);
          }
        }
      }
      for (int i = 2 * C; i < 3 * C; i++) y[i] = x[i];
    }
  }
}

void rope_backward(float* dinp, const float* dout, const float* cos_table, const float* sin_table,
                   int B, int T, int C, int NH) {
  // dinp [B,T,3C], dout [B,T,3C], tables [T, hs/2]
  const int hs = C / NH, half = hs / 2;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const float* dy = dout + (b * T + t) * 3 * C;
      float* dx = dinp + (b * T + t) * 3 * C;
      for (int part = 0; part < 2; part++) {
        for (int h = 0; h < NH; h++) {
          const int off = part * C + h * hs;
          for (int i = 0; i < half; i++) {
            const double c = cos_table[t * half + i], s = sin_table[t * half + i];
            const double da = dy[off + i], db = dy[off + i + half];
            dx[off + i] += static_cast<float>(da * c + db * s);
            dx[off + i + half] += static_cast<float>(-da * s + db * c);
          }
        }
      }
      for (int i = 2 * C; i < 3 * C; i++) dx[i] += dy[i];
    }
  }
}

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  // out [B,T,C], att [B,NH,T,T], qkv [B,T,3C]
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  std::vector<double> p(T);
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int t = 0; t < T; t++) {
        const float* q = qkv + (b * T + t) * 3 * C + h * hs;
        double maxv = -1e300;
        for (int u = 0; u <= t; u++) {
          const float* k = qkv + (b * T + u) * 3 * C + C + h * hs;
          double s = 0;
          for (int i = 0; i < hs; i++) s += double(q[i]) * k[i];
          p[u] = s * scale;
          maxv = std::max(maxv, p[u]);
        }
        double sum = 0;
        for (int u = 0; u <= t; u++) {
          p[u] = std::exp(p[u] - maxv);
          sum += p[u];
        }
        float* a = att + ((b * NH + h) * T + t) * T;
        for (int u = 0; u < T; u++) a[u] = u <= t ? static_cast<float>(p[u] / sum) : 0.0f;
        for (int i = 0; i < hs; i++) {
          double s = 0;
          for (int u = 0; u <= t; u++) {
            s += p[u] / sum * qkv[(b * T + u) * 3 * C + 2 * C + h * hs + i];
          }
          out[(b * T + t) * C + h * hs + i] = static_cast<float>(s);
        }
      }
    }
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH) {
  // dqkv [B,T,3C], dout [B,T,C], qkv [B,T,3C], att [B,NH,T,T]
  const int hs = C / NH;
  std::fill(dqkv, dqkv + static_cast<size_t>(B) * T * 3 * C, 0.0f);
  const double scale = 1.0 / std::sqrt(double(hs));
  std::vector<double> dp(T);
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int t = 0; t < T; t++) {
        const float* a = att + ((b * NH + h) * T + t) * T;
        const float* dy = dout + (b * T + t) * C + h * hs;
        double dot = 0;  // sum_u p[u] * dp[u]
        for (int u = 0; u <= t; u++) {
          const float* v = qkv + (b * T + u) * 3 * C + 2 * C + h * hs;
          double s = 0;
          for (int i = 0; i < hs; i++) s += double(dy[i]) * v[i];
          dp[u] = s;
          dot += a[u] * s;
          float* dv = dqkv + (b * T + u) * 3 * C + 2 * C + h * hs;
          for (int i = 0; i < hs; i++) dv[i] += static_cast<float>(double(a[u]) * dy[i]);
        }
        const float* q = qkv + (b * T + t) * 3 * C + h * hs;
        float* dq = dqkv + (b * T + t) * 3 * C + h * hs;
        for (int u = 0; u <= t; u++) {
          const double ds = a[u] * (dp[u] - dot) * scale;
          const float* k = qkv + (b * T + u) * 3 * C + C + h * hs;
          float* dk = dqkv + (b * T + u) * 3 * C + C + h * hs;
          for (int i = 0; i < hs; i++) {
            dq[i] += static_cast<float>(ds * k[i]);
            dk[i] += static_cast<float>(ds * q[i]);
          }
        }
      }
    }
  }
}

void softcap_forward(float* out, const float* inp, float cap, size_t n) {
  for (size_t i = 0; i < n; i++) {
    out[i] = static_cast<float>(cap * std::tanh(double(inp[i]) / cap));
  }
}

void softcap_backward(float* dinp, const float* dout, const float* out, float cap, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double th = double(out[i]) / cap;
    dinp[i] += static_cast<float>(dout[i] * (1 - th * th));
  }
}

void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                   const int32_t* targets, float dloss_scale, int N, int V) {
  // losses [N], dlogits [N,V] or null, logits [N,V], targets [N]
  std::vector<double> p(V);
  for (int n = 0; n < N; n++) {
    const float* x = logits + n * V;
    double maxv = x[0];
    for (int v = 1; v < V; v++) maxv = std::max(maxv, double(x[v]));
    double sum = 0;
    for (int v = 0; v < V; v++) {
      p[v] = std::exp(x[v] - maxv);
      sum += p[v];
    }
    const int target = targets[n];
    losses[n] = static_cast<float>(std::log(sum) + maxv - x[target]);
    if (dlogits) {
      for (int v = 0; v < V; v++) {
        const double d = p[v] / sum - (v == target ? 1.0 : 0.0);
        dlogits[n * V + v] = static_cast<float>(d * dloss_scale);
      }
    }
  }
}

void crossentropy_nll(float* nll, const float* logits, const int32_t* targets, int N, int V) {
  crossentropy_forward_backward(nll, nullptr, logits, targets, 0.0f, N, V);
}

size_t newton_schulz_scratch_floats(int rows, int cols) {
  (void)rows;
  (void)cols;
  return 0;  // the naive twin allocates its own (it is not on a hot path)
}

void newton_schulz(float* out, const float* g, float* /*scratch*/, int rows, int cols, int steps) {
  // out [rows,cols], g [rows,cols]; X [m,n] with m <= n
  const bool transpose = rows > cols;
  const int m = transpose ? cols : rows, n = transpose ? rows : cols;
  std::vector<double> X(size_t(m) * n), A(size_t(m) * m), Bm(size_t(m) * m), Xn(size_t(m) * n);
  double norm = 0;
  for (int i = 0; i < rows * cols; i++) norm += double(g[i]) * g[i];
  norm = std::sqrt(norm) + 1e-7;
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) {
      const double v = g[r * cols + c] / norm;
      if (transpose)
        X[c * n + r] = v;
      else
        X[r * n + c] = v;
    }
  }
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  for (int step = 0; step < steps; step++) {
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < m; j++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += X[i * n + k] * X[j * n + k];
        A[i * m + j] = s;
      }
    }
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < m; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += A[i * m + k] * A[k * m + j];
        Bm[i * m + j] = b * A[i * m + j] + c * s;
      }
    }
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += Bm[i * m + k] * X[k * n + j];
        Xn[i * n + j] = a * X[i * n + j] + s;
      }
    }
    X.swap(Xn);
  }
  for (int r = 0; r < rows; r++) {
    for (int col = 0; col < cols; col++) {
      out[r * cols + col] = static_cast<float>(transpose ? X[col * n + r] : X[r * n + col]);
    }
  }
}

}  // namespace ratchet::train::ref
