#include "ratchet/report/report_html.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/report/loss_chart.h"
#include "ratchet/report/report_chart.h"
#include "ratchet/report/report_png.h"

namespace ratchet {
namespace {

using nlohmann::json;

constexpr const char* kCss = R"css(
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1260px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-bottom:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:130px}
.card b{display:block;font-size:18px}.card span{color:#666;font-size:12px}
.chart svg{width:100%;height:auto;border:1px solid #eee}
svg.loss{display:block}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.differs td{background:#fff3c4}
.st{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}
.reason{color:#666;font-size:12px}
.better{color:#1a7f37}.worse{color:#b42318}
pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px;max-height:420px}
details{margin:6px 0}
.warn{background:#fff3c4;border:1px solid #e0c060;padding:6px 10px;border-radius:4px}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;font-size:12px;padding:4px 8px;border-radius:4px;max-width:480px;display:none;z-index:9}
)css";

// Tooltips only: shows a point's <title> in a box that follows the mouse.
constexpr const char* kScript = R"js(
<div id="tip"></div>
<script>
(function(){var tip=document.getElementById('tip');
document.querySelectorAll('[data-seq]').forEach(function(el){
var t=el.querySelector('title');if(!t)return;var text=t.textContent;
el.addEventListener('mousemove',function(ev){tip.textContent=text;tip.style.display='block';
tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';});
el.addEventListener('mouseleave',function(){tip.style.display='none';});});})();
</script>
)js";

std::string Esc(const std::string& text) { return XmlEscape(text); }

std::string StatusChip(ExperimentStatus status) {
  return fmt::format("<span class=\"st\" style=\"background:{}\">{}</span>", StatusColor(status),
                     ToString(status));
}

std::string Card(const std::string& value, const std::string& label) {
  return fmt::format("<div class=\"card\"><b>{}</b><span>{}</span></div>", Esc(value), Esc(label));
}

std::string JsonCell(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::string BudgetText(const RunRow& run) {
  if (run.budget_kind == "time") return fmt::format("time, {:g} s per training", run.budget_amount);
  if (run.budget_kind == "tokens") {
    return fmt::format("tokens, {:g} per training", run.budget_amount);
  }
  return fmt::format("{} {:g}", run.budget_kind, run.budget_amount);
}

void HardwareTable(const RunData& data, std::ostringstream& html) {
  if (!data.hardware) {
    html << "<p>not recorded</p>\n";
    return;
  }
  const HardwareInfo& h = data.hardware->info;
  html << "<table>";
  auto row = [&](const std::string& k, const std::string& v) {
    html << "<tr><th>" << Esc(k) << "</th><td>" << Esc(v) << "</td></tr>";
  };
  row("CPU", h.cpu_model);
  row("cores", std::to_string(h.cores));
  row("memory", fmt::format("{:.1f} GiB", h.memory_bytes / 1073741824.0));
  row("GPU", h.gpu);
  row("OS", h.os);
  row("compiler", h.compiler);
  row("fingerprint", data.hardware->fingerprint);
  html << "</table>\n";
}

}  // namespace

std::string HtmlHead(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + Esc(title) +
         "</title>\n<style>" + kCss + "</style></head><body>\n";
}

std::string HtmlTail() { return std::string(kScript) + "</body></html>\n"; }

std::string ConfigTableHtml(const std::vector<std::string>& column_names,
                            const std::vector<std::optional<json>>& configs) {
  std::vector<std::map<std::string, json>> flat;
  std::set<std::string> keys;
  for (const auto& config : configs) {
    flat.push_back(config ? FlattenJson(*config) : std::map<std::string, json>{});
    for (const auto& [k, v] : flat.back()) keys.insert(k);
  }
  std::ostringstream html;
  html << "<table class=\"config\"><tr><th>parameter</th>";
  for (const std::string& name : column_names) html << "<th>" << Esc(name) << "</th>";
  html << "</tr>\n";
  for (const std::string& key : keys) {
    std::set<std::string> distinct;
    for (size_t i = 0; i < flat.size(); ++i) {
      if (!configs[i]) continue;
      auto it = flat[i].find(key);
      distinct.insert(it == flat[i].end() ? "(unset)" : it->second.dump());
    }
    html << "<tr" << (distinct.size() > 1 ? " class=\"differs\"" : "") << "><td>" << Esc(key)
         << "</td>";
    for (size_t i = 0; i < flat.size(); ++i) {
      auto it = flat[i].find(key);
      std::string cell = !configs[i] ? "?" : it == flat[i].end() ? "(unset)" : JsonCell(it->second);
      html << "<td>" << Esc(cell) << "</td>";
    }
    html << "</tr>\n";
  }
  html << "</table>\n";
  return html.str();
}

std::string RenderReportHtml(const RunData& data) {
  const RunRow& run = data.run;
  RunTotals totals = ComputeTotals(data);
  const ExperimentRow* best = BestExperiment(data);
  std::ostringstream html;
  html << HtmlHead("ratchet report: " + run.tag);

  // Heading and headline numbers.
  html << "<h1>ratchet run <code>" << Esc(run.tag) << "</code></h1>\n";
  html << "<div class=\"sub\">spec " << Esc(run.spec_name) << " · " << Esc(run.metric_name) << " ("
       << Esc(run.goal) << ") · " << ToString(run.state) << " · started "
       << FormatClock(run.started_at) << " · budget " << Esc(BudgetText(run))
       << (data.hardware ? " · " + Esc(data.hardware->info.cpu_model) : "") << "</div>\n";
  html << "<div class=\"cards\">";
  html << Card(FormatMetric(run.baseline_metric), "baseline " + run.metric_name);
  if (best && best->metric) {
    html << Card(FormatMetric(best->metric),
                 fmt::format("best {} (experiment {})", run.metric_name, best->seq));
    if (run.baseline_metric && *run.baseline_metric != 0) {
      double gain = (run.goal == "maximize" ? *best->metric - *run.baseline_metric
                                            : *run.baseline_metric - *best->metric);
      html << Card(fmt::format("{:+.2f} %", 100 * gain / std::fabs(*run.baseline_metric)),
                   "improvement over baseline");
    }
  }
  html << Card(std::to_string(totals.experiments), "experiments");
  html << Card(
      std::to_string(totals.by_status.count("accepted") ? totals.by_status["accepted"] : 0),
      "accepted");
  html << Card(fmt::format("{:.1f}", totals.experiments_per_hour), "experiments / hour");
  html << Card(FormatDuration(totals.wall_seconds), "wall time");
  html << Card(FormatMetric(run.noise_sd), "noise sd (calibration)");
  html << "</div>\n";

  // The chart.
  ChartOptions chart;
  chart.y_title = run.metric_name;
  chart.maximize = run.goal == "maximize";
  html << "<div class=\"chart\">" << RenderProgressChart({SeriesFromRun(data, ChartX::kSeq)}, chart)
       << "</div>\n";

  // Totals.
  html << "<h2>Totals</h2>\n<table>";
  const std::string tally = StatusTally(totals);
  auto row = [&](const std::string& k, const std::string& v) {
    html << "<tr><th>" << Esc(k) << "</th><td>" << Esc(v) << "</td></tr>";
  };
  row("experiments", fmt::format("{} ({})", totals.experiments, tally));
  row("budget", BudgetText(run));
  row("wall time", FormatDuration(totals.wall_seconds) +
                       fmt::format(", {:.1f} experiments per hour", totals.experiments_per_hour));
  auto share = [&](double s) {
    return totals.wall_seconds > 0
               ? fmt::format("{} ({:.0f} %)", FormatDuration(s), 100 * s / totals.wall_seconds)
               : FormatDuration(s);
  };
  row("training", share(totals.train_seconds));
  row("evaluation", share(totals.eval_seconds));
  row("overhead (proposing, git, deciding)", share(totals.overhead_seconds));
  html << "</table>\n";

  // Accepted changes.
  std::vector<AcceptedChange> changes = AcceptedChanges(data);
  html << "<h2>Accepted changes (" << changes.size() << ")</h2>\n";
  if (changes.empty()) {
    html << "<p>None yet: the baseline is still the best.</p>\n";
  } else {
    html << "<table><tr><th>#</th><th>change</th><th>" << Esc(run.metric_name)
         << "</th><th>± sd</th><th>before</th><th>improvement</th><th>%</th>"
            "<th>in noise sd</th><th>t</th><th>commit</th></tr>\n";
    for (const AcceptedChange& c : changes) {
      html << fmt::format(
          "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td "
          "class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num better\">{:+.4g}</td>"
          "<td class=\"num\">{:+.2f}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td><code>{}</code></td></tr>\n",
          c.seq, Esc(c.description), FormatMetric(c.metric), FormatMetric(c.spread),
          FormatMetric(c.previous), c.improvement, c.improvement_percent,
          c.effect_sd ? fmt::format("{:.1f}", *c.effect_sd) : "-",
          c.t ? fmt::format("{:.2f}", *c.t) : "-", Esc(c.commit.substr(0, 10)));
    }
    html << "</table>\n";
  }

  // Training loss: the best's curve against the baseline's.
  std::vector<LossCurve> pair;
  if (!data.experiments.empty()) {
    pair.push_back({"baseline", "#888888", ExperimentCurve(data, 0)});
    if (best && best->seq != 0) {
      for (size_t i = 0; i < data.experiments.size(); ++i) {
        if (data.experiments[i].seq != best->seq) continue;
        pair.push_back({fmt::format("best (experiment {})", best->seq), "#1a7f37",
                        ExperimentCurve(data, i)});
      }
    }
  }
  if (LossRange(pair)) {
    html << "<h2>Training loss: best against baseline</h2>\n<div class=\"chart\">"
         << RenderLossChart(pair, {}) << "</div>\n";
  }

  // Best config against the baseline config.
  if (std::optional<json> best_config = BestConfig(data)) {
    html << "<h2>Best config against the baseline</h2>\n";
    html << ConfigTableHtml(
        {"baseline", best ? fmt::format("best (experiment {})", best->seq) : std::string("best")},
        {BaselineConfig(data), best_config});
  }

  // Every experiment, with its training curve on the run's common loss scale.
  std::vector<LossCurve> sparklines;
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    sparklines.push_back({fmt::format("experiment {}", data.experiments[i].seq),
                          std::string(StatusColor(data.experiments[i].status)),
                          ExperimentCurve(data, i, 60)});
  }
  LossChartOptions sparkline{.width = 140, .height = 30, .axes = false,
                             .y_range = LossRange(sparklines)};
  html << "<h2>All experiments</h2>\n<table><tr><th>#</th><th>status</th><th>"
       << Esc(run.metric_name)
       << "</th><th>± sd</th><th>n</th><th>duration</th><th>train</th><th>peak RSS</th>"
          "<th>loss curve</th><th>description</th></tr>\n";
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    const ExperimentRow& e = data.experiments[i];
    bool explain = e.reason && e.status != ExperimentStatus::kAccepted &&
                   e.status != ExperimentStatus::kRejected;
    html << fmt::format(
        "<tr id=\"e{}\"><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td "
        "class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
        "class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}{}</td></tr>\n",
        e.seq, e.seq, StatusChip(e.status), FormatMetric(e.metric),
        e.n_measurements > 1 ? FormatMetric(e.spread) : "", e.n_measurements,
        e.ended_at ? FormatDuration(*e.ended_at - e.started_at) : "-",
        e.train_seconds ? FormatDuration(*e.train_seconds) : "-",
        e.peak_rss_kb ? fmt::format("{:.0f} MiB", *e.peak_rss_kb / 1024.0) : "-",
        sparklines[i].points.empty() ? "" : RenderLossChart({sparklines[i]}, sparkline),
        Esc(e.description), explain ? "<div class=\"reason\">" + Esc(*e.reason) + "</div>" : "");
  }
  html << "</table>\n";

  // Where and how it was measured.
  html << "<h2>Hardware</h2>\n";
  HardwareTable(data, html);
  html << "<h2>Run</h2>\n<table>";
  row("uid", run.uid);
  row("workspace", run.workspace);
  row("baseline commit", run.baseline_commit);
  row("best commit", run.best_commit.value_or("-"));
  row("evaluator pins digest", run.pins_digest);
  row("spec sha256", run.spec_sha256);
  row("updated", FormatClock(run.updated_at));
  if (run.ended_at) row("ended", FormatClock(*run.ended_at));
  html << "</table>\n";
  json spec = json::parse(run.spec_json, nullptr, false);
  html << "<details open><summary>spec</summary><pre>"
       << Esc(spec.is_discarded() ? run.spec_json : spec.dump(2)) << "</pre></details>\n";
  if (!data.events.empty()) {
    html << "<details><summary>events (" << data.events.size() << ")</summary><pre>";
    for (const EventRow& ev : data.events) {
      html << Esc(FormatClock(ev.at) + " " + ev.level + " " + ev.message) << "\n";
    }
    html << "</pre></details>\n";
  }
  html << "<p class=\"sub\">generated by <code>ratchet report</code> from " << Esc(data.source)
       << "</p>\n";
  html << HtmlTail();
  return html.str();
}

void CommandReport(const ReportOptions& options, std::ostream& out) {
  if (options.html.empty() && options.svg.empty() && options.png.empty()) {
    throw Error("ratchet report: nothing to write; give --html FILE, --svg FILE or --png FILE");
  }
  RunData data = LoadWorkspaceRun(options.workspace, options.tag);
  if (!options.html.empty()) {
    WriteFileAtomic(options.html, RenderReportHtml(data));
    out << "wrote " << options.html.string() << "\n";
  }
  if (!options.svg.empty() || !options.png.empty()) {
    ChartOptions chart;
    chart.y_title = data.run.metric_name;
    chart.maximize = data.run.goal == "maximize";
    chart.title = "ratchet run " + data.run.tag;
    std::string svg = RenderProgressChart({SeriesFromRun(data, ChartX::kSeq)}, chart);
    if (!options.svg.empty()) {
      WriteFileAtomic(options.svg, svg);
      out << "wrote " << options.svg.string() << "\n";
    }
    if (!options.png.empty()) {
      std::filesystem::path temp_svg = options.png;
      temp_svg += ".tmp.svg";
      WriteFileAtomic(temp_svg, svg);
      try {
        SvgToPng(temp_svg, options.png, chart.width, chart.height);
      } catch (...) {
        std::filesystem::remove(temp_svg);
        throw;
      }
      std::filesystem::remove(temp_svg);
      out << "wrote " << options.png.string() << "\n";
    }
  }
}

}  // namespace ratchet
