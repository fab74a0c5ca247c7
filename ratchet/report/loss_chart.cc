#include "ratchet/report/loss_chart.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ratchet/loop/loop.h"
#include "ratchet/report/report_chart.h"

namespace ratchet {
namespace {

// x of a point: tokens where the trainer prints them, else its step, else
// its place in the log.
double XOf(const TrainingPoint& point, size_t i, bool by_tokens) {
  if (by_tokens) return static_cast<double>(*point.tokens);
  return point.step ? static_cast<double>(*point.step) : static_cast<double>(i + 1);
}

bool AllHaveTokens(const std::vector<LossCurve>& curves) {
  for (const LossCurve& curve : curves) {
    for (const TrainingPoint& p : curve.points) {
      if (!p.tokens) return false;
    }
  }
  return true;
}

std::string Compact(double value) {
  if (std::fabs(value) >= 1e6) return fmt::format("{:g}M", value / 1e6);
  if (std::fabs(value) >= 1e3) return fmt::format("{:g}k", value / 1e3);
  return fmt::format("{:g}", value);
}

// About `count` round tick values covering [lo, hi].
std::vector<double> Ticks(double lo, double hi, int count) {
  double span = hi - lo;
  if (!(span > 0)) return {lo};
  double step = std::pow(10.0, std::floor(std::log10(span / count)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (span / (step * factor) <= count) {
      step *= factor;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}

}  // namespace

std::filesystem::path MeasurementDir(const RunData& data, int64_t seq, int64_t repeat) {
  if (data.workspace.empty()) return {};
  return RatchetDir(data.workspace) / "runs" / data.run.tag /
         (std::to_string(seq) + "." + std::to_string(repeat));
}

std::vector<TrainingPoint> ExperimentCurve(const RunData& data, size_t index, size_t max_points) {
  const ExperimentRow& e = data.experiments[index];
  const std::vector<MeasurementRow>& measurements = data.measurements[index];
  if (MeasurementDir(data, e.seq, 0).empty()) return {};
  // Which logs to try, in order: a running experiment's growing one first (its
  // measurement has no row until it ends), then the finished ones.
  std::vector<int64_t> repeats;
  if (IsUnfinished(e.status)) repeats.push_back(static_cast<int64_t>(measurements.size()));
  for (const MeasurementRow& m : measurements) repeats.push_back(m.repeat);
  for (int64_t repeat : repeats) {
    std::vector<TrainingPoint> curve =
        ReadTrainingCurve(MeasurementDir(data, e.seq, repeat) / "train.out", max_points);
    if (!curve.empty()) return curve;
  }
  return {};
}

std::optional<std::pair<double, double>> LossRange(const std::vector<LossCurve>& curves) {
  double lo = INFINITY, hi = -INFINITY;
  for (const LossCurve& curve : curves) {
    for (const TrainingPoint& p : curve.points) {
      if (!std::isfinite(p.loss)) continue;
      lo = std::min(lo, p.loss);
      hi = std::max(hi, p.loss);
    }
  }
  if (!(lo <= hi)) return std::nullopt;
  return std::pair{lo, hi};
}

std::string RenderLossChart(const std::vector<LossCurve>& curves, const LossChartOptions& o) {
  const bool by_tokens = AllHaveTokens(curves);
  const double left = o.axes ? 64 : 1, right = o.axes ? 16 : 1, top = o.axes ? 14 : 1,
               bottom = o.axes ? 40 : 1;
  const double plot_w = o.width - left - right, plot_h = o.height - top - bottom;
  std::ostringstream svg;
  svg << fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"loss\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">",
      o.width, o.height, o.width, o.height);
  auto range = o.y_range ? o.y_range : LossRange(curves);
  double x_max = 0;
  for (const LossCurve& curve : curves) {
    for (size_t i = 0; i < curve.points.size(); ++i) {
      x_max = std::max(x_max, XOf(curve.points[i], i, by_tokens));
    }
  }
  if (!range || x_max <= 0) {
    if (o.axes) {
      svg << fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no training "
          "log</text>",
          o.width / 2, o.height / 2);
    }
    svg << "</svg>";
    return svg.str();
  }
  double y_lo = range->first, y_hi = range->second;
  if (y_hi - y_lo < 1e-9) y_hi = y_lo + 1;
  const double pad = (y_hi - y_lo) * 0.04;
  y_lo -= pad;
  y_hi += pad;
  auto px = [&](double x) { return left + plot_w * x / x_max; };
  auto py = [&](double y) {
    y = std::clamp(y, y_lo, y_hi);
    return top + plot_h * (y_hi - y) / (y_hi - y_lo);
  };
  if (o.axes) {
    svg << fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
        "stroke=\"#ccc\"/>",
        left, top, plot_w, plot_h);
    for (double t : Ticks(0, x_max, 8)) {
      svg << fmt::format(
          "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#eee\"/>"
          "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\" fill=\"#555\">{4}"
          "</text>",
          px(t), top, top + plot_h, top + plot_h + 16, Compact(t));
    }
    for (double t : Ticks(y_lo, y_hi, 6)) {
      svg << fmt::format(
          "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#eee\"/>"
          "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\" fill=\"#555\">{5:g}"
          "</text>",
          left, left + plot_w, py(t), left - 6, py(t) + 4, t);
    }
    svg << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
                       left + plot_w / 2, o.height - 6, by_tokens ? "tokens" : "steps");
    svg << fmt::format(
        "<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\" "
        "fill=\"#333\">training loss</text>",
        top + plot_h / 2);
  }
  int legend_y = static_cast<int>(top) + 16;
  for (const LossCurve& curve : curves) {
    if (curve.points.empty()) continue;
    svg << "<polyline fill=\"none\" stroke=\"" << curve.color << "\" stroke-width=\""
        << (o.axes ? 1.6 : 1.2) << "\" points=\"";
    for (size_t i = 0; i < curve.points.size(); ++i) {
      svg << fmt::format("{:.1f},{:.1f} ", px(XOf(curve.points[i], i, by_tokens)),
                         py(curve.points[i].loss));
    }
    svg << "\"><title>" << XmlEscape(curve.name)
        << fmt::format(": last loss {:.4g}", curve.points.back().loss) << "</title></polyline>";
    if (o.axes) {
      svg << fmt::format(
          "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"{3}\" "
          "stroke-width=\"3\"/><text x=\"{4}\" y=\"{5}\" fill=\"#333\">{6}</text>",
          left + plot_w - 260, left + plot_w - 236, legend_y - 4, curve.color, left + plot_w - 230,
          legend_y, XmlEscape(curve.name));
      legend_y += 18;
    }
  }
  svg << "</svg>";
  return svg.str();
}

}  // namespace ratchet
