#include "trainer/optimizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "trainer/model.h"
#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

// Eigenvalues of a symmetric matrix (cyclic Jacobi, double).
std::vector<double> SymmetricEigenvalues(std::vector<double> a, int n) {
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) off += a[p * n + q] * a[p * n + q];
    if (off < 1e-22) break;
    for (int p = 0; p < n; ++p) {
      for (int q = p + 1; q < n; ++q) {
        if (std::fabs(a[p * n + q]) < 1e-300) continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
        double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // A = Jᵀ A J
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) out[i] = a[i * n + i];
  return out;
}

// Singular values of a [rows, cols] matrix with rows >= cols.
std::vector<double> SingularValues(const float* m, int rows, int cols) {
  std::vector<double> gram(cols * cols, 0.0);
  for (int i = 0; i < cols; ++i)
    for (int j = 0; j < cols; ++j)
      for (int r = 0; r < rows; ++r)
        gram[i * cols + j] += double(m[r * cols + i]) * m[r * cols + j];
  auto ev = SymmetricEigenvalues(gram, cols);
  for (auto& e : ev) e = std::sqrt(std::max(0.0, e));
  std::sort(ev.begin(), ev.end());
  return ev;
}

TEST(OptimizerTest, AdamWMatchesAHandComputedUpdatePerGroup) {
  Config c = testing::TinyConfig({{"lr", 0.01},
                                  {"embed_lr", 0.02},
                                  {"matrix_lr", 0.03},
                                  {"weight_decay", 0.5},
                                  {"beta1", 0.8},
                                  {"beta2", 0.9},
                                  {"grad_clip", 0.0}});
  Model model(c, 2, 8, true);
  model.InitParams(1);
  Optimizer opt(c, model.tensors());
  const size_t n = model.num_params();
  std::vector<double> p(model.params(), model.params() + n), m(n, 0), v(n, 0);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  for (int t = 1; t <= 2; ++t) {
    for (size_t i = 0; i < n; ++i) model.grads()[i] = normal(rng);
    std::vector<double> g(model.grads(), model.grads() + n);
    const double mult = t == 1 ? 1.0 : 0.5;
    opt.Step(model.params(), model.grads(), mult);
    for (const TensorInfo& ti : model.tensors()) {
      double lr = c.lr, wd = 0;
      if (ti.group == ParamGroup::kEmbedding) lr = c.embed_lr;
      if (ti.group == ParamGroup::kMatrix) lr = c.matrix_lr, wd = c.weight_decay;
      if (ti.group == ParamGroup::kHead) wd = c.weight_decay;
      lr *= mult;
      for (size_t k = 0; k < ti.numel; ++k) {
        size_t i = ti.offset + k;
        m[i] = 0.8 * m[i] + 0.2 * g[i];
        v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
        double mhat = m[i] / (1 - std::pow(0.8, t)), vhat = v[i] / (1 - std::pow(0.9, t));
        p[i] = p[i] - lr * wd * p[i] - lr * mhat / (std::sqrt(vhat) + 1e-8);
        ASSERT_NEAR(model.params()[i], p[i], 1e-6 + 1e-5 * std::fabs(p[i]))
            << ti.name << "[" << k << "] step " << t;
      }
    }
  }
  EXPECT_EQ(opt.steps(), 2);
}

// A clipped step moves the parameters as an unclipped step on the gradient
// scaled to norm grad_clip (to float rounding: the scale is fused into the
// update), for AdamW and Muon alike. Both normalise a single step's scale
// away, so the clipped gradient follows an unclipped one (norm 0.5) and
// meets it in the moments, where its scale shows.
TEST(OptimizerTest, GradientIsClippedToTheGlobalNorm) {
  for (const char* optimizer : {"adamw", "muon"}) {
    const Config clip = testing::TinyConfig({{"grad_clip", 1.0}, {"optimizer", optimizer}});
    const Config free = testing::TinyConfig({{"grad_clip", 0.0}, {"optimizer", optimizer}});
    Model a(clip, 2, 8, true), b(free, 2, 8, true), c(free, 2, 8, true);
    Optimizer opt_a(clip, a.tensors()), opt_b(free, b.tensors()), opt_c(free, c.tensors());
    const size_t n = a.num_params();
    std::vector<double> partial(kNormChunks);
    std::vector<float> g1(n), g2(n);
    for (size_t i = 0; i < n; ++i) {
      g1[i] = std::cos(static_cast<float>(i));
      g2[i] = std::sin(static_cast<float>(i));
    }
    const double norm1 = GlobalNorm(g1.data(), n, partial.data());
    for (float& g : g1) g *= static_cast<float>(0.5 / norm1);
    const double norm2 = GlobalNorm(g2.data(), n, partial.data());
    ASSERT_GT(norm2, 2.0);
    const float scale = static_cast<float>(1.0 / norm2);
    for (Model* m : {&a, &b, &c}) m->InitParams(1);
    for (auto [model, opt] : {std::pair{&a, &opt_a}, {&b, &opt_b}, {&c, &opt_c}}) {
      std::copy(g1.begin(), g1.end(), model->grads());
      opt->Step(model->params(), model->grads(), 1.0);
      std::copy(g2.begin(), g2.end(), model->grads());
      if (model == &b) {
        for (size_t i = 0; i < n; ++i) b.grads()[i] *= scale;
      }
    }
    EXPECT_NEAR(opt_a.Step(a.params(), a.grads(), 1.0), norm2, 1e-6 * norm2) << optimizer;
    opt_b.Step(b.params(), b.grads(), 1.0);
    opt_c.Step(c.params(), c.grads(), 1.0);
    float to_scaled = 0, to_unclipped = 0;
    for (size_t i = 0; i < n; ++i) {
      to_scaled = std::max(to_scaled, std::fabs(a.params()[i] - b.params()[i]));
      to_unclipped = std::max(to_unclipped, std::fabs(a.params()[i] - c.params()[i]));
    }
    EXPECT_LT(to_scaled, 1e-6f) << optimizer;
    EXPECT_GT(to_unclipped, 1e-4f) << optimizer;
  }
}

TEST(OptimizerTest, GlobalNormMatchesADoubleSumForAnyLength) {
  for (size_t n : {size_t(1), size_t(7), size_t(8), size_t(1000), size_t(100003)}) {
    std::vector<float> x(n);
    double expected = 0;
    for (size_t i = 0; i < n; ++i) {
      x[i] = std::cos(0.37f * static_cast<float>(i)) * 3.0f;
      expected += double(x[i]) * x[i];
    }
    std::vector<double> partial(kNormChunks);
    EXPECT_NEAR(GlobalNorm(x.data(), n, partial.data()), std::sqrt(expected),
                1e-12 * std::sqrt(expected))
        << n;
  }
}

TEST(OptimizerTest, MuonUpdateOfAHiddenMatrixHasNearlyEqualSingularValues) {
  Config c = testing::TinyConfig({{"optimizer", "muon"},
                                  {"n_embd", 32},
                                  {"matrix_lr", 0.1},
                                  {"weight_decay", 0.0},
                                  {"grad_clip", 0.0}});
  Model model(c, 2, 8, true);
  Optimizer opt(c, model.tensors());
  // A gradient with spread singular values: Gaussian columns scaled 1..8.
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  const TensorInfo& wproj = model.tensor("h0.mlp.wproj");  // [64, 32]: in > out
  const int rows = wproj.shape[0], cols = wproj.shape[1];
  float* g = model.grads() + wproj.offset;
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < cols; ++k) g[r * cols + k] = std::pow(8.0f, k / 31.0f) * normal(rng);
  auto before = SingularValues(g, rows, cols);
  EXPECT_GT(before.back() / before.front(), 5.0);

  const TensorInfo& wte = model.tensor("wte");
  model.grads()[wte.offset] = 2.0f;
  std::vector<float> p0(model.params(), model.params() + model.num_params());
  opt.Step(model.params(), model.grads(), 1.0);
  std::vector<float> update(wproj.numel);
  // scale sqrt(max(1, out/in)) = 1 for this [in 64, out 32] matrix.
  for (size_t i = 0; i < wproj.numel; ++i)
    update[i] = (p0[wproj.offset + i] - model.params()[wproj.offset + i]) / 0.1f;
  auto after = SingularValues(update.data(), rows, cols);
  EXPECT_GT(after.front(), 0.5) << "smallest singular value";
  EXPECT_LT(after.back(), 1.3) << "largest singular value";

  // The embedding still takes AdamW: its first step is embed_lr * sign(g).
  EXPECT_NEAR(model.params()[wte.offset], p0[wte.offset] - c.embed_lr, 1e-7);
}

TEST(OptimizerTest, MuonScalesWideMatricesBySqrtOfOutOverIn) {
  Config c = testing::TinyConfig(
      {{"optimizer", "muon"}, {"weight_decay", 0.0}, {"grad_clip", 0.0}, {"matrix_lr", 0.1}});
  Model model(c, 2, 8, true);
  Optimizer opt(c, model.tensors());
  const TensorInfo& wfc = model.tensor("h0.mlp.wfc");  // [16, 32]: out/in = 2
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < wfc.numel; ++i) model.grads()[wfc.offset + i] = normal(rng);
  opt.Step(model.params(), model.grads(), 1.0);
  // Transposed ([32, 16]) the update's singular values are ~ 0.1 * sqrt(2).
  std::vector<float> t(wfc.numel);
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 32; ++k) t[k * 16 + r] = -model.params()[wfc.offset + r * 32 + k] / 0.1f;
  auto sv = SingularValues(t.data(), 32, 16);
  EXPECT_GT(sv.front(), 0.5 * std::sqrt(2.0));
  EXPECT_LT(sv.back(), 1.3 * std::sqrt(2.0));
}

}  // namespace
}  // namespace ratchet::train
