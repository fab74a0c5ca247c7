#include "ratchet/report/report_chart.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace ratchet {
namespace {

// Plot area margins, in SVG units.
constexpr double kLeft = 78, kRight = 40, kBottom = 96;
constexpr double kLabelFont = 11;

struct Frame {
  double x_lo, x_hi, y_lo, y_hi;
  double px0, px1, py0, py1;  // plot area: left, right, top, bottom
  bool maximize;
  double X(double x) const { return px0 + (x - x_lo) / (x_hi - x_lo) * (px1 - px0); }
  double Y(double y) const { return py1 - (y - y_lo) / (y_hi - y_lo) * (py1 - py0); }
  double Lane() const { return py1 + 52; }
};

std::string Num(double v) { return fmt::format("{:.1f}", v); }

std::string TickText(double value, double step) {
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (std::fabs(value) >= 1e6 || (value != 0 && std::fabs(value) < 1e-4)) {
    return fmt::format("{:.3g}", value);
  }
  return fmt::format("{:.{}f}", value, decimals);
}

double Quantile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * (sorted.size() - 1);
  size_t i = static_cast<size_t>(pos);
  double frac = pos - i;
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] * (1 - frac) + sorted[i + 1] * frac;
}

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Abbreviate(const std::string& text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars == max_chars) return text.substr(0, i) + "…";
    ++chars;
  }
  return text;
}

std::string_view StatusColor(ExperimentStatus status) {
  switch (status) {
    case ExperimentStatus::kAccepted:
      return "#1a9850";
    case ExperimentStatus::kRejected:
      return "#9aa3ad";
    case ExperimentStatus::kCrashed:
      return "#d73027";
    case ExperimentStatus::kTimeout:
      return "#f46d43";
    case ExperimentStatus::kInvalid:
      return "#8e44ad";
    case ExperimentStatus::kDuplicate:
      return "#74add1";
    case ExperimentStatus::kInterrupted:
      return "#8c6d31";
    default:
      return "#fdae61";  // proposed, running, evaluating
  }
}

std::string SeriesColor(size_t index) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                  "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};
  return kColors[index % (sizeof(kColors) / sizeof(kColors[0]))];
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || target < 1) return {lo};
  double raw = (hi - lo) / target;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::pair<double, double> RobustRange(std::vector<double> values, const std::vector<double>& must) {
  std::sort(values.begin(), values.end());
  double lo = INFINITY, hi = -INFINITY;
  if (!values.empty()) {
    double q1 = Quantile(values, 0.25), q3 = Quantile(values, 0.75);
    double iqr = q3 - q1;
    if (iqr <= 0) iqr = std::max(std::fabs(q1) * 0.05, 1e-9);
    for (double v : values) {
      if (v < q1 - 3 * iqr || v > q3 + 3 * iqr) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  for (double v : must) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) return {0, 1};
  if (hi - lo <= 0) {
    double pad = std::max(std::fabs(lo) * 0.05, 1e-6);
    return {lo - pad, hi + pad};
  }
  double pad = (hi - lo) * 0.04;
  return {lo - pad, hi + pad};
}

ChartSeries SeriesFromRun(const RunData& data, ChartX x, const std::string& color) {
  ChartSeries series;
  series.name = data.run.tag;
  series.color = color;
  series.baseline = data.run.baseline_metric;
  series.noise_sd = data.run.noise_sd;
  std::map<int64_t, double> improvements;
  for (const AcceptedChange& change : AcceptedChanges(data)) {
    improvements[change.seq] = change.improvement;
  }
  for (const ExperimentRow& e : data.experiments) {
    ChartPoint p;
    p.seq = e.seq;
    p.x = x == ChartX::kSeq ? static_cast<double>(e.seq)
                            : (e.ended_at.value_or(e.started_at) - data.run.started_at) / 3600.0;
    if (e.metric && std::isfinite(*e.metric)) p.y = e.metric;
    p.status = e.status;
    std::string tip = fmt::format("#{} {}", e.seq, ToString(e.status));
    if (p.y) {
      tip += fmt::format(" · {} {}", data.run.metric_name, FormatMetric(e.metric));
      if (e.spread && e.n_measurements > 1) tip += fmt::format(" ± {}", FormatMetric(e.spread));
    }
    if (!e.description.empty()) tip += " · " + e.description;
    if (e.reason && e.status != ExperimentStatus::kAccepted &&
        e.status != ExperimentStatus::kRejected) {
      tip += " · " + *e.reason;
    }
    p.tooltip = SingleLine(tip);
    if (e.status == ExperimentStatus::kAccepted && e.seq > 0) {
      p.label = SingleLine(e.description);
      p.improvement = improvements.count(e.seq) ? improvements[e.seq] : 0;
    }
    series.points.push_back(std::move(p));
  }
  return series;
}

std::string RenderProgressChart(const std::vector<ChartSeries>& series,
                                const ChartOptions& options) {
  const double W = options.width, H = options.height;
  const bool overlay = series.size() > 1;
  size_t n_points = 0;
  std::vector<double> values, must;
  double x_hi = 1;
  for (const ChartSeries& s : series) {
    n_points += s.points.size();
    for (const ChartPoint& p : s.points) {
      x_hi = std::max(x_hi, p.x);
      if (!p.y) continue;
      values.push_back(*p.y);
      if (p.status == ExperimentStatus::kAccepted) must.push_back(*p.y);
    }
    if (s.baseline) {
      must.push_back(*s.baseline);
      if (s.noise_sd && !overlay) {
        must.push_back(*s.baseline - 2 * *s.noise_sd);
        must.push_back(*s.baseline + 2 * *s.noise_sd);
      }
    }
  }
  auto [y_lo, y_hi] = RobustRange(values, must);
  // Room above the plot for the legend, and the title if there is one.
  const double top = options.title.empty() ? 40 : 58;
  Frame f{0, x_hi * 1.01, y_lo, y_hi, kLeft, W - kRight, top, H - kBottom, options.maximize};
  // Dots shrink as they crowd: ~4.5 units at 100 points, ~2 at 1,000.
  size_t per_series = series.empty() ? 0 : n_points / series.size();
  double r =
      std::clamp(45.0 / std::sqrt(static_cast<double>(std::max<size_t>(per_series, 1))), 1.8, 4.5);

  std::ostringstream svg;
  svg << fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"progress-chart\" viewBox=\"0 0 {} {}\" "
      "width=\"{}\" height=\"{}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
      "font-size=\"12\" role=\"img\">\n",
      W, H, W, H);
  svg << fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", W, H);
  if (!options.title.empty()) {
    svg << fmt::format(
        "<text x=\"{}\" y=\"22\" font-size=\"16\" font-weight=\"bold\" "
        "fill=\"#222\">{}</text>\n",
        kLeft, XmlEscape(options.title));
  }

  // Grid and axes.
  svg << "<g class=\"axes\" fill=\"#444\">\n";
  std::vector<double> yticks = NiceTicks(f.y_lo, f.y_hi, 8);
  double ystep = yticks.size() > 1 ? yticks[1] - yticks[0] : 1;
  for (double t : yticks) {
    svg << fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#e6e6e6\"/>",
                       Num(f.px0), Num(f.px1), Num(f.Y(t)), Num(f.Y(t)));
    svg << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", Num(f.px0 - 6),
                       Num(f.Y(t) + 4), TickText(t, ystep));
  }
  std::vector<double> xticks = NiceTicks(0, f.x_hi, 10);
  double xstep = xticks.size() > 1 ? xticks[1] - xticks[0] : 1;
  for (double t : xticks) {
    if (options.x == ChartX::kSeq && t != std::floor(t)) continue;
    svg << fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#f0f0f0\"/>",
                       Num(f.X(t)), Num(f.X(t)), Num(f.py0), Num(f.py1));
    svg << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", Num(f.X(t)),
                       Num(f.py1 + 18), TickText(t, xstep));
  }
  svg << fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
      Num(f.px0), Num(f.py0), Num(f.px1 - f.px0), Num(f.py1 - f.py0));
  svg << fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#888\" "
      "font-size=\"10\">no metric</text>\n",
      Num(f.px0 - 6), Num(f.Lane() + 3));
  svg << fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#eee\"/>\n",
                     Num(f.px0), Num(f.px1), Num(f.Lane()), Num(f.Lane()));
  svg << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     Num((f.px0 + f.px1) / 2), Num(H - 12),
                     options.x == ChartX::kSeq ? "experiment" : "hours since the run started");
  svg << fmt::format(
      "<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{} "
      "({} is better)</text>\n",
      Num((f.py0 + f.py1) / 2), XmlEscape(options.y_title), options.maximize ? "higher" : "lower");
  svg << "</g>\n";

  // Calibration noise band of a single run: baseline ± 2 sd.
  for (const ChartSeries& s : series) {
    if (!s.baseline) continue;
    std::string color = s.color.empty() ? "#4575b4" : s.color;
    if (s.noise_sd && !overlay) {
      double top = f.Y(*s.baseline + 2 * *s.noise_sd), bottom = f.Y(*s.baseline - 2 * *s.noise_sd);
      svg << fmt::format(
          "<rect class=\"noise-band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
          "fill-opacity=\"0.12\"><title>calibration noise: baseline {} ± 2 × {} (sd)</title>"
          "</rect>\n",
          Num(f.px0), Num(top), Num(f.px1 - f.px0), Num(std::max(bottom - top, 0.5)), color,
          FormatMetric(s.baseline), FormatMetric(s.noise_sd));
    }
    svg << fmt::format(
        "<line class=\"baseline\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" "
        "stroke-dasharray=\"5 4\" stroke-opacity=\"0.7\"/>\n",
        Num(f.px0), Num(f.px1), Num(f.Y(*s.baseline)), Num(f.Y(*s.baseline)), color);
  }

  // Running-best step line through the accepted experiments.
  for (const ChartSeries& s : series) {
    std::string path;
    double last_x = 0;
    bool started = false;
    for (const ChartPoint& p : s.points) {
      if (p.status != ExperimentStatus::kAccepted || !p.y) continue;
      double y = std::clamp(*p.y, f.y_lo, f.y_hi);
      if (!started) {
        path = fmt::format("M{} {}", Num(f.X(p.x)), Num(f.Y(y)));
        started = true;
      } else {
        path += fmt::format(" H{} V{}", Num(f.X(p.x)), Num(f.Y(y)));
      }
      last_x = p.x;
    }
    if (!started) continue;
    double end_x = last_x;
    for (const ChartPoint& p : s.points) end_x = std::max(end_x, p.x);
    path += fmt::format(" H{}", Num(f.X(end_x)));
    svg << fmt::format(
        "<path class=\"best-line\" d=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"2\" stroke-linejoin=\"round\"/>\n",
        path, s.color.empty() ? "#1a9850" : s.color);
  }

  // The points; accepted last so they sit on top.
  svg << "<g class=\"points\">\n";
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t si = 0; si < series.size(); ++si) {
      const ChartSeries& s = series[si];
      for (const ChartPoint& p : s.points) {
        bool accepted = p.status == ExperimentStatus::kAccepted;
        if (accepted != (pass == 1)) continue;
        std::string fill = s.color.empty() ? std::string(StatusColor(p.status)) : s.color;
        double opacity = s.color.empty() ? (accepted ? 1.0 : 0.75) : (accepted ? 1.0 : 0.35);
        double radius = accepted ? std::max(r * 1.25, 3.0) : r;
        std::string attrs = fmt::format(
            "data-seq=\"{}\" data-run=\"{}\" data-status=\"{}\" fill=\"{}\" fill-opacity=\"{}\"",
            p.seq, si, ToString(p.status), fill, opacity);
        if (accepted) attrs += " stroke=\"#ffffff\" stroke-width=\"0.8\"";
        std::string title = "<title>" + XmlEscape(p.tooltip);
        double cx = f.X(p.x);
        if (!p.y) {
          svg << fmt::format("<circle {} cx=\"{}\" cy=\"{}\" r=\"{}\">{}</title></circle>\n", attrs,
                             Num(cx), Num(f.Lane()), Num(r), title);
        } else if (*p.y > f.y_hi || *p.y < f.y_lo) {
          // Off the chart: a triangle on the edge pointing where it is.
          bool above = *p.y > f.y_hi;
          double y = above ? f.py0 + 1 : f.py1 - 1, d = above ? 6 : -6;
          svg << fmt::format(
              "<path {} d=\"M{} {} L{} {} L{} {} Z\">{} (off the chart)</title></path>\n", attrs,
              Num(cx), Num(y), Num(cx - 4), Num(y + d), Num(cx + 4), Num(y + d), title);
        } else {
          svg << fmt::format("<circle {} cx=\"{}\" cy=\"{}\" r=\"{}\">{}</title></circle>\n", attrs,
                             Num(cx), Num(f.Y(*p.y)), Num(radius), title);
        }
      }
    }
  }
  svg << "</g>\n";

  // Labels of accepted changes: biggest improvements first, then thinned so
  // no two rotated labels start closer than about their height.
  if (options.labels) {
    struct Candidate {
      const ChartPoint* p;
      double px, py;
    };
    std::vector<Candidate> candidates;
    for (const ChartSeries& s : series) {
      for (const ChartPoint& p : s.points) {
        if (p.label.empty() || !p.y) continue;
        candidates.push_back({&p, f.X(p.x), f.Y(std::clamp(*p.y, f.y_lo, f.y_hi))});
      }
    }
    std::stable_sort(
        candidates.begin(), candidates.end(),
        [](const Candidate& a, const Candidate& b) { return a.p->improvement > b.p->improvement; });
    std::vector<Candidate> kept;
    for (const Candidate& c : candidates) {
      if (static_cast<int>(kept.size()) >= options.max_labels) break;
      bool crowded = std::any_of(kept.begin(), kept.end(), [&](const Candidate& k) {
        return std::fabs(k.px - c.px) < kLabelFont * 1.3 && std::fabs(k.py - c.py) < 120;
      });
      if (!crowded) kept.push_back(c);
    }
    svg << "<g class=\"labels\" font-size=\"" << kLabelFont << "\" fill=\"#1b4d2e\">\n";
    for (const Candidate& c : kept) {
      // Text rises to the right, away from the points that came before; near
      // the right edge it rises to the left instead, to stay on the canvas.
      bool flip = c.px > f.px1 - 240;
      double angle = (options.maximize ? 35 : -35) * (flip ? -1 : 1);
      double x = flip ? c.px - 6 : c.px + 6, y = c.py - 4;
      svg << fmt::format(
          "<text data-label-seq=\"{}\" x=\"{}\" y=\"{}\" transform=\"rotate({} {} {})\"{} "
          "stroke=\"#ffffff\" stroke-width=\"3\" stroke-opacity=\"0.85\" paint-order=\"stroke\">"
          "{}</text>\n",
          c.p->seq, Num(x), Num(y), angle, Num(x), Num(y), flip ? " text-anchor=\"end\"" : "",
          XmlEscape(Abbreviate(c.p->label, options.label_chars)));
    }
    svg << "</g>\n";
  }

  // Legend.
  svg << "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n";
  double lx = kLeft, ly = top - 16;
  auto key = [&](const std::string& color, const std::string& text, bool line) {
    if (line) {
      svg << fmt::format(
          "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" "
          "stroke-width=\"2\"/>",
          Num(lx), Num(lx + 14), Num(ly), Num(ly), color);
    } else {
      svg << fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\"/>", Num(lx + 7), Num(ly),
                         color);
    }
    svg << fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", Num(lx + 18), Num(ly + 4),
                       XmlEscape(text));
    lx += 26 + 6.5 * text.size();
  };
  if (overlay) {
    for (size_t i = 0; i < series.size(); ++i) key(series[i].color, series[i].name, true);
    key("#888888", "dot: accepted (solid) / other (faint)", false);
  } else {
    std::map<ExperimentStatus, int> present;
    for (const ChartSeries& s : series) {
      for (const ChartPoint& p : s.points) ++present[p.status];
    }
    for (const auto& [status, count] : present) {
      key(std::string(StatusColor(status)), fmt::format("{} {}", ToString(status), count), false);
    }
    key("#1a9850", "running best", true);
    if (!series.empty() && series[0].noise_sd) key("#abc4e0", "baseline ± 2 sd noise", true);
  }
  svg << "</g>\n</svg>\n";
  return svg.str();
}

}  // namespace ratchet
