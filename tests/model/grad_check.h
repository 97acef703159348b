// Helpers for finite-difference gradient checks in the model tests.
#ifndef IAK_TESTS_MODEL_GRAD_CHECK_H_
#define IAK_TESTS_MODEL_GRAD_CHECK_H_

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace iak::model::testing {

inline std::vector<float> RandomVector(size_t n, std::mt19937_64* rng,
                                       float stddev = 1.0f) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(*rng);
  return v;
}

// sum_i a[i] * c[i] in double: a smooth scalar "loss" of a tensor.
inline double Dot(const float* a, const std::vector<float>& c) {
  double s = 0.0;
  for (size_t i = 0; i < c.size(); ++i) s += static_cast<double>(a[i]) * c[i];
  return s;
}

// Double-sided difference quotient of f() in v[i].
template <typename F>
double NumericGrad(F&& f, float* v, size_t i, float step = 1e-3f) {
  const float old = v[i];
  const float up = old + step;
  const float down = old - step;
  v[i] = up;
  const double f_up = f();
  v[i] = down;
  const double f_down = f();
  v[i] = old;
  return (f_up - f_down) / (static_cast<double>(up) - down);
}

// Float forward passes: allow ~1% relative error plus a small absolute slack.
inline void ExpectGradNear(double analytic, double numeric,
                           const std::string& what) {
  const double tol = 2e-3 + 2e-2 * std::max(std::abs(analytic), std::abs(numeric));
  EXPECT_NEAR(analytic, numeric, tol) << what;
}

// Checks analytic[i] against NumericGrad(f, v, i) for every i.
template <typename F>
void CheckAllGrads(F&& f, float* v, const float* analytic, size_t n,
                   const std::string& what) {
  for (size_t i = 0; i < n; ++i) {
    ExpectGradNear(analytic[i], NumericGrad(f, v, i), what + "[" + std::to_string(i) + "]");
  }
}

}  // namespace iak::model::testing

#endif  // IAK_TESTS_MODEL_GRAD_CHECK_H_
