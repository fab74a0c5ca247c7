#include "ratchet/report/compare.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/report/report_chart.h"
#include "ratchet/report/report_html.h"

namespace ratchet {
namespace {

using nlohmann::json;

std::string Letter(size_t i) { return std::string(1, static_cast<char>('A' + i % 26)); }

std::string HardwareText(const RunData& d) {
  if (!d.hardware) return "unknown";
  const HardwareInfo& h = d.hardware->info;
  return fmt::format("{}, {} cores, {:.0f} GiB", h.cpu_model, h.cores,
                     h.memory_bytes / 1073741824.0);
}

std::string BudgetText(const RunRow& run) {
  if (run.budget_kind == "time") return fmt::format("time {:g} s", run.budget_amount);
  return fmt::format("{} {:g}", run.budget_kind, run.budget_amount);
}

// The rows of the side-by-side table: a label and one cell per run.
std::vector<std::pair<std::string, std::vector<std::string>>> SideBySide(
    const std::vector<RunData>& runs) {
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  auto add = [&](const std::string& label, auto cell) {
    std::vector<std::string> cells;
    for (const RunData& d : runs) cells.push_back(cell(d));
    rows.push_back({label, cells});
  };
  add("run", [](const RunData& d) { return d.run.tag; });
  add("source", [](const RunData& d) { return d.source; });
  add("spec", [](const RunData& d) { return d.run.spec_name; });
  add("hardware", HardwareText);
  add("fingerprint",
      [](const RunData& d) { return d.hardware ? d.hardware->fingerprint : std::string("-"); });
  add("budget", [](const RunData& d) { return BudgetText(d.run); });
  add("metric", [](const RunData& d) { return d.run.metric_name + " (" + d.run.goal + ")"; });
  add("evaluator pins", [](const RunData& d) { return d.run.pins_digest.substr(0, 12); });
  add("experiments", [](const RunData& d) {
    RunTotals t = ComputeTotals(d);
    std::string text = fmt::format("{} ({} accepted", t.experiments,
                                   t.by_status.count("accepted") ? t.by_status.at("accepted") : 0);
    if (t.duplicates > 0) text += fmt::format("; {} duplicates skipped", t.duplicates);
    return text + ")";
  });
  add("wall time", [](const RunData& d) {
    RunTotals t = ComputeTotals(d);
    return fmt::format("{}, {:.1f}/h", FormatDuration(t.wall_seconds), t.experiments_per_hour);
  });
  add("noise sd", [](const RunData& d) { return FormatMetric(d.run.noise_sd); });
  add("baseline", [](const RunData& d) { return FormatMetric(d.run.baseline_metric); });
  add("best", [](const RunData& d) {
    const ExperimentRow* best = BestExperiment(d);
    return best ? fmt::format("{} (#{})", FormatMetric(best->metric), best->seq) : std::string("-");
  });
  add("improvement", [](const RunData& d) {
    const ExperimentRow* best = BestExperiment(d);
    if (!best || !best->metric || !d.run.baseline_metric || *d.run.baseline_metric == 0) {
      return std::string("-");
    }
    double gain = d.run.goal == "maximize" ? *best->metric - *d.run.baseline_metric
                                           : *d.run.baseline_metric - *best->metric;
    return fmt::format("{:+.2f} %", 100 * gain / std::fabs(*d.run.baseline_metric));
  });
  return rows;
}

// Notes on every pair of runs whose metrics cannot be compared.
std::vector<std::string> ComparabilityNotes(const std::vector<RunData>& runs) {
  std::vector<std::string> notes;
  for (size_t i = 0; i < runs.size(); ++i) {
    for (size_t j = i + 1; j < runs.size(); ++j) {
      std::string why = WhyNotComparable(runs[i].run, runs[j].run);
      if (!why.empty()) {
        notes.push_back(fmt::format("{} and {} are not comparable: {}", Letter(i), Letter(j), why));
      }
    }
  }
  return notes;
}

std::vector<std::optional<json>> BestConfigs(const std::vector<RunData>& runs) {
  std::vector<std::optional<json>> configs;
  for (const RunData& d : runs) configs.push_back(BestConfig(d));
  return configs;
}

}  // namespace

std::string WhyNotComparable(const RunRow& a, const RunRow& b) {
  if (a.metric_name != b.metric_name) {
    return "different metrics (" + a.metric_name + " vs " + b.metric_name + ")";
  }
  if (a.goal != b.goal) return "different goals (" + a.goal + " vs " + b.goal + ")";
  if (a.pins_digest != b.pins_digest) {
    return "different evaluators (pins digest " + a.pins_digest.substr(0, 12) + " vs " +
           b.pins_digest.substr(0, 12) + ")";
  }
  return "";
}

void WriteComparisonText(const std::vector<RunData>& runs, std::ostream& out) {
  auto rows = SideBySide(runs);
  // Config rows, '*' on those that differ.
  std::vector<std::optional<json>> configs = BestConfigs(runs);
  std::vector<std::map<std::string, json>> flat;
  std::set<std::string> keys;
  for (const auto& c : configs) {
    flat.push_back(c ? FlattenJson(*c) : std::map<std::string, json>{});
    for (const auto& [k, v] : flat.back()) keys.insert(k);
  }
  size_t first_config_row = rows.size();
  for (const std::string& key : keys) {
    std::vector<std::string> cells;
    std::set<std::string> distinct;
    for (size_t i = 0; i < runs.size(); ++i) {
      auto it = flat[i].find(key);
      std::string cell = !configs[i]              ? "?"
                         : it == flat[i].end()    ? "(unset)"
                         : it->second.is_string() ? it->second.get<std::string>()
                                                  : it->second.dump();
      if (configs[i]) distinct.insert(cell);
      cells.push_back(cell);
    }
    rows.push_back({(distinct.size() > 1 ? "* " : "  ") + key, cells});
  }
  size_t label_width = 12;
  std::vector<size_t> widths(runs.size(), 4);
  for (const auto& [label, cells] : rows) {
    label_width = std::max(label_width, label.size());
    for (size_t i = 0; i < cells.size(); ++i) {
      widths[i] = std::max(widths[i], std::min<size_t>(cells[i].size(), 48));
    }
  }
  // Columns padded to their width, except the last (no trailing blanks).
  auto line = [&](const std::string& label, const std::vector<std::string>& cells) {
    std::string text = fmt::format("{:<{}}", label, label_width);
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string cell = Abbreviate(cells[i], 48);
      text += "  " + (i + 1 < cells.size() ? fmt::format("{:<{}}", cell, widths[i]) : cell);
    }
    out << text << "\n";
  };
  std::vector<std::string> letters;
  for (size_t i = 0; i < runs.size(); ++i) letters.push_back(Letter(i));
  line("", letters);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (r == first_config_row) out << "best config (* = differs):\n";
    line(rows[r].first, rows[r].second);
  }
  for (const std::string& note : ComparabilityNotes(runs)) out << "note: " << note << "\n";
}

std::string RenderComparisonHtml(const std::vector<RunData>& runs, const std::string& x_axis) {
  std::ostringstream html;
  std::string names;
  for (const RunData& d : runs) names += (names.empty() ? "" : " vs ") + d.run.tag;
  html << HtmlHead("ratchet compare: " + names);
  html << "<h1>" << XmlEscape(names) << "</h1>\n";
  for (const std::string& note : ComparabilityNotes(runs)) {
    html << "<p class=\"warn\">" << XmlEscape(note) << "; their metrics are shown but not charted "
         << "together.</p>\n";
  }
  html << "<table><tr><th></th>";
  for (size_t i = 0; i < runs.size(); ++i) {
    html << "<th style=\"color:" << SeriesColor(i) << "\">" << Letter(i) << "</th>";
  }
  html << "</tr>\n";
  for (const auto& [label, cells] : SideBySide(runs)) {
    html << "<tr><th>" << XmlEscape(label) << "</th>";
    for (const std::string& cell : cells) html << "<td>" << XmlEscape(cell) << "</td>";
    html << "</tr>\n";
  }
  html << "</table>\n";

  // One overlaid chart per group of comparable runs.
  std::vector<bool> charted(runs.size(), false);
  ChartX x = x_axis == "hours" ? ChartX::kHours : ChartX::kSeq;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (charted[i]) continue;
    std::vector<ChartSeries> series;
    std::string title;
    for (size_t j = i; j < runs.size(); ++j) {
      if (charted[j] || !WhyNotComparable(runs[i].run, runs[j].run).empty()) continue;
      charted[j] = true;
      ChartSeries s = SeriesFromRun(runs[j], x, SeriesColor(j));
      s.name = Letter(j) + ": " + runs[j].run.tag;
      title += (title.empty() ? "" : " vs ") + s.name;
      series.push_back(std::move(s));
    }
    ChartOptions chart;
    chart.x = x;
    chart.y_title = runs[i].run.metric_name;
    chart.maximize = runs[i].run.goal == "maximize";
    chart.labels = series.size() == 1;
    html << "<h2>Progress: " << XmlEscape(title) << "</h2>\n<div class=\"chart\">"
         << RenderProgressChart(series, chart) << "</div>\n";
  }

  html << "<h2>Best configs</h2>\n";
  std::vector<std::string> columns;
  for (size_t i = 0; i < runs.size(); ++i) columns.push_back(Letter(i) + ": " + runs[i].run.tag);
  html << ConfigTableHtml(columns, BestConfigs(runs));
  html << HtmlTail();
  return html.str();
}

void CommandCompare(const CompareOptions& options, std::ostream& out) {
  if (options.sources.size() < 2) throw Error("ratchet compare: give at least two runs");
  std::vector<RunData> runs;
  for (const std::string& source : options.sources) runs.push_back(LoadRunSource(source));
  WriteComparisonText(runs, out);
  if (!options.html.empty()) {
    WriteFileAtomic(options.html, RenderComparisonHtml(runs, options.x_axis));
    out << "wrote " << options.html.string() << "\n";
  }
}

}  // namespace ratchet
