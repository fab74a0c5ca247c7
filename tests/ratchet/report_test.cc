#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop.h"
#include "ratchet/report/report_chart.h"
#include "ratchet/report/report_html.h"
#include "ratchet/report/report_png.h"
#include "ratchet/report/watch.h"
#include "tests/ratchet/e2e_util.h"
#include "tests/ratchet/report_fixture.h"

namespace ratchet {
namespace {

using testing::AddSyntheticRun;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReportTempDir;
using testing::SyntheticRun;
namespace fs = std::filesystem;

// Every value of attribute `name` in `text`, in order.
std::vector<std::string> AttributeValues(const std::string& text, const std::string& name) {
  std::regex pattern(" " + name + "=\"([^\"]*)\"");
  std::vector<std::string> values;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    values.push_back((*it)[1]);
  }
  return values;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(RatchetDir(dir_.path()));
    Store store = Store::Open(StorePath(dir_.path()));
    AddSyntheticRun(store, SyntheticRun{});
  }
  RunData Load() { return LoadWorkspaceRun(dir_.path(), ""); }
  ReportTempDir dir_;
};

TEST_F(ReportTest, EveryExperimentIsOnePointCarryingItsSeq) {
  std::string html = RenderReportHtml(Load());
  std::vector<std::string> seqs = AttributeValues(html, "data-seq");
  ASSERT_EQ(seqs.size(), 11u);
  std::set<std::string> distinct(seqs.begin(), seqs.end());
  for (int seq = 0; seq <= 10; ++seq) EXPECT_TRUE(distinct.count(std::to_string(seq))) << seq;
  // Tooltips say description, metric and status.
  EXPECT_THAT(html, HasSubstr("<title>#2 accepted · val_bpb 2.8 · lr 0.1 -&gt; 0.2</title>"));
  EXPECT_THAT(html, HasSubstr("<title>#3 crashed · lr 0.2 -&gt; 3.0 · train: exit 1: loss is nan"));
}

TEST_F(ReportTest, AcceptedChangesAreLabelledAndTabulatedWithEffectSizes) {
  std::string html = RenderReportHtml(Load());
  EXPECT_THAT(AttributeValues(html, "data-label-seq"), ::testing::UnorderedElementsAre("2", "8"));
  EXPECT_THAT(html, HasSubstr(">depth 2 -&gt; 4</text>"));
  EXPECT_THAT(html, HasSubstr("Accepted changes (2)"));
  // 2.8 → 2.6: improvement 0.2, 7.14 %, 10 noise sd (0.02), t from the decision.
  EXPECT_THAT(html, HasSubstr("+0.2</td><td class=\"num\">+7.14</td><td class=\"num\">10.0</td>"
                              "<td class=\"num\">7.50</td>"));
  // The noise band and the running-best line are drawn.
  EXPECT_THAT(html, HasSubstr("class=\"noise-band\""));
  EXPECT_THAT(html, HasSubstr("class=\"best-line\""));
}

TEST_F(ReportTest, FailedExperimentsShowTheirReasonAndRejectedOnesDoNot) {
  std::string html = RenderReportHtml(Load());
  EXPECT_THAT(html, HasSubstr("<div class=\"reason\">train: exit 1: loss is nan</div>"));
  EXPECT_THAT(html, HasSubstr("<div class=\"reason\">nothing to change</div>"));
  EXPECT_THAT(html, HasSubstr("<div class=\"reason\">train: timed out after 600 s</div>"));
  EXPECT_THAT(html, Not(HasSubstr("<div class=\"reason\">first measurement not better</div>")));
  EXPECT_THAT(html, HasSubstr("tab here, &quot;quoted&quot;, &lt;b&gt;&amp;"));
}

TEST_F(ReportTest, PageIsSelfContained) {
  std::string html = RenderReportHtml(Load());
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  std::string without_xmlns = std::regex_replace(html, std::regex("xmlns=\"[^\"]*\""), "");
  EXPECT_THAT(without_xmlns, Not(HasSubstr("http")));
}

TEST_F(ReportTest, ShowsTotalsHardwareSpecAndBestConfigAgainstBaseline) {
  std::string html = RenderReportHtml(Load());
  EXPECT_THAT(html, HasSubstr("AMD EPYC 7B13"));
  EXPECT_THAT(html, HasSubstr("time, 300 s per training"));
  // 10 proposals from 0 to 650 s, the duplicate not run: 9 experiments, 49.8
  // per hour; 11 × 3 measurements × 40 s train…
  EXPECT_THAT(html, HasSubstr("<td>9 ("));
  EXPECT_THAT(html, HasSubstr("; 1 duplicate proposal skipped)</td>"));
  EXPECT_THAT(html, HasSubstr("49.8 experiments per hour"));
  EXPECT_THAT(html, HasSubstr("&quot;config&quot;: &quot;config.json&quot;"));
  EXPECT_THAT(html, HasSubstr("Best config against the baseline"));
  // No git here: the baseline column is unknown, the best comes from params.
  EXPECT_THAT(html, HasSubstr("<td>model.depth</td><td>?</td><td>4</td>"));
}

TEST_F(ReportTest, OutliersAreMarkedOnTheEdgeInsteadOfStretchingTheAxis) {
  ChartOptions options;
  std::string svg = RenderProgressChart({SeriesFromRun(Load(), ChartX::kSeq)}, options);
  EXPECT_THAT(svg, HasSubstr("lr 0.2 -&gt; 0.9 (off the chart)</title></path>"));
  // The y ticks cover the accepted results and the noise band, not 100.
  std::regex tick(">(\\d+\\.\\d+)</text>");
  double max_tick = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator();
       ++it) {
    max_tick = std::max(max_tick, std::stod((*it)[1]));
  }
  EXPECT_GT(max_tick, 2.9);
  EXPECT_LT(max_tick, 4.0);
}

TEST(ReportChart, StaysReadableWithAThousandExperiments) {
  RunData data;
  data.run.metric_name = "val_bpb";
  data.run.baseline_metric = 2.0;
  data.run.noise_sd = 0.01;
  double best = 2.0;
  for (int seq = 0; seq < 1000; ++seq) {
    ExperimentRow e;
    e.seq = seq;
    e.started_at = seq;
    double m = best + 0.05 * ((seq * 7919) % 100) / 100.0 - 0.004;
    if (seq % 97 == 13) m = 50;  // the occasional blow-up
    bool accept = seq == 0 || (seq % 20 == 0 && m < best);
    e.status = accept ? ExperimentStatus::kAccepted
                      : (seq % 31 == 0 ? ExperimentStatus::kCrashed : ExperimentStatus::kRejected);
    if (e.status != ExperimentStatus::kCrashed) e.metric = m;
    if (accept) best = m;
    e.description = "a rather long description of change number " + std::to_string(seq) +
                    " with several parameters";
    data.experiments.push_back(e);
    data.measurements.emplace_back();
  }
  ChartOptions options;
  std::string svg = RenderProgressChart({SeriesFromRun(data, ChartX::kSeq)}, options);
  // Kept to look at (build/test-artifacts/progress-1000.svg).
  fs::path artifacts = fs::path(RATCHET_BIN_DIR).parent_path() / "test-artifacts";
  fs::create_directories(artifacts);
  WriteFileAtomic(artifacts / "progress-1000.svg", svg);
  EXPECT_EQ(AttributeValues(svg, "data-seq").size(), 1000u);
  std::vector<std::string> labels = AttributeValues(svg, "data-label-seq");
  EXPECT_GT(labels.size(), 5u);
  EXPECT_LE(labels.size(), static_cast<size_t>(options.max_labels));
  EXPECT_THAT(svg, HasSubstr("…</text>"));  // abbreviated
  EXPECT_THAT(svg, HasSubstr("(off the chart)"));
  // Small dots at this density.
  for (const std::string& r : AttributeValues(svg, "r")) EXPECT_LE(std::stod(r), 4.0) << r;
}

TEST(ReportChart, NiceTicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(NiceTicks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  // 0.47 / 8 = 0.059 rounds up to a step of 0.1.
  std::vector<double> ticks = NiceTicks(2.57, 3.04, 8);
  ASSERT_EQ(ticks.size(), 5u);
  EXPECT_NEAR(ticks.front(), 2.6, 1e-12);
  EXPECT_NEAR(ticks.back(), 3.0, 1e-12);
}

TEST(ReportChart, AbbreviateCutsOnCharactersNotBytes) {
  EXPECT_EQ(Abbreviate("héllo wörld", 5), "héllo…");
  EXPECT_EQ(Abbreviate("short", 10), "short");
}

TEST_F(ReportTest, CommandWritesHtmlSvgAndRefusesNothingToWrite) {
  ReportOptions options;
  options.workspace = dir_.path();
  std::ostringstream out;
  EXPECT_THROW(CommandReport(options, out), Error);
  options.html = dir_.path() / "report.html";
  options.svg = dir_.path() / "chart.svg";
  CommandReport(options, out);
  EXPECT_THAT(ReadFile(options.html), HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(ReadFile(options.svg), HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
}

TEST_F(ReportTest, PngIsWrittenWhenAConverterIsInstalled) {
  if (!FindInPath("rsvg-convert") && !FindInPath("chromium")) {
    GTEST_SKIP() << "no SVG converter (install librsvg2-bin or chromium)";
  }
  ReportOptions options;
  options.workspace = dir_.path();
  options.png = dir_.path() / "chart.png";
  std::ostringstream out;
  CommandReport(options, out);
  std::string png = ReadFile(options.png);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

TEST_F(ReportTest, PngWithoutAConverterNamesThePackageToInstall) {
  std::string saved_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (dir_.path() / "empty").c_str(), 1);
  ReportOptions options;
  options.workspace = dir_.path();
  options.png = dir_.path() / "chart.png";
  std::ostringstream out;
  std::string message;
  try {
    CommandReport(options, out);
  } catch (const Error& error) {
    message = error.what();
  }
  ::setenv("PATH", saved_path.c_str(), 1);
  EXPECT_THAT(message, HasSubstr("install the Debian package librsvg2-bin"));
  EXPECT_FALSE(fs::exists(options.png));
}

TEST(ReportEmpty, ARunWithOnlyItsBaselineStillRenders) {
  ReportTempDir dir;
  fs::create_directories(RatchetDir(dir.path()));
  {
    Store store = Store::Open(StorePath(dir.path()));
    RunRow run;
    run.tag = "fresh";
    run.spec_name = "toy";
    run.baseline_commit = std::string(40, '0');
    run.budget_kind = "time";
    run.metric_name = "score";
    run.pins_digest = "p";
    store.CreateRun(run);
  }
  std::string html = RenderReportHtml(LoadWorkspaceRun(dir.path(), ""));
  EXPECT_THAT(html, HasSubstr("None yet: the baseline is still the best."));
  EXPECT_TRUE(AttributeValues(html, "data-seq").empty());
}

// --- status --watch ---

TEST_F(ReportTest, WatchFrameShowsPhaseElapsedLastResultsAndBest) {
  RunData data = Load();
  data.run.state = RunState::kRunning;
  ExperimentRow current;
  current.seq = 11;
  current.status = ExperimentStatus::kRunning;
  current.phase = "train";
  current.description = "width 64 -> 128";
  current.started_at = data.run.started_at + 700;
  data.experiments.push_back(current);
  data.measurements.emplace_back();
  std::string frame = RenderWatchFrame(data, data.run.started_at + 850, true, 3);
  EXPECT_THAT(frame, HasSubstr("ratchet run night · running"));
  EXPECT_THAT(frame, HasSubstr("budget time 300 s per training · elapsed 14.2 min"));
  EXPECT_THAT(frame, HasSubstr("now: [11] train 150.0 s [##########..........] · width 64 -> 128"));
  EXPECT_THAT(frame, HasSubstr("best: [8] val_bpb 2.6 (+13.33 % over baseline 3)"));
  EXPECT_THAT(frame, HasSubstr("     10  rejected"));
  EXPECT_THAT(frame, Not(HasSubstr("      7  timeout")));  // only the last 3
  EXPECT_FALSE(RunEnded(data, true));
  EXPECT_TRUE(RunEnded(data, false));
}

TEST_F(ReportTest, WatchStopsWhenTheRunHasEndedAndClearsOnlyATerminal) {
  WatchOptions options;
  options.workspace = dir_.path();
  int sleeps = 0;
  std::ostringstream pipe, tty;
  WatchStatus(options, pipe, false, [&](double) { ++sleeps; });
  WatchStatus(options, tty, true, [&](double) { ++sleeps; });
  EXPECT_EQ(sleeps, 0);  // the synthetic run is finished: one frame each
  EXPECT_THAT(pipe.str(), Not(HasSubstr("\x1b[")));
  EXPECT_EQ(tty.str().rfind("\x1b[H\x1b[2J", 0), 0u);
}

TEST_F(ReportTest, WatchRedrawsEveryIntervalWhileTheRunGoesOn) {
  {
    Store store = Store::Open(StorePath(dir_.path()));
    store.SetRunState(store.ListRuns()[0].id, RunState::kRunning);
  }
  // Pretend this test is the controller holding the lock.
  WriteFileAtomic(RatchetDir(dir_.path()) / "lock", std::to_string(::getpid()) + "\n");
  WatchOptions options;
  options.workspace = dir_.path();
  options.interval = 0.25;
  options.max_frames = 3;
  std::vector<double> sleeps;
  std::ostringstream out;
  WatchStatus(options, out, false, [&](double s) { sleeps.push_back(s); });
  EXPECT_EQ(sleeps, (std::vector<double>{0.25, 0.25}));
  std::string text = out.str();
  size_t frames = 0;
  for (size_t at = 0; (at = text.find("ratchet run night", at)) != std::string::npos; ++at)
    ++frames;
  EXPECT_EQ(frames, 3u);
}

// --- a real run of the toy experiment ---

TEST(ReportOnRealRun, ToyRunWithCrashesProducesAReport) {
  ratchet::testing::TempDir dir;
  fs::path spec = ratchet::testing::WriteToySpec(
      dir.path(), "toy.json",
      // x, y and a "crash" switch: some candidates crash, some improve.
      {{"search_space",
        {{"lr", nullptr},
         {"depth", nullptr},
         {"width", nullptr},
         {"act", nullptr},
         {"crash", {{"type", "bool"}}}}},
       {"proposer", {{"seed", 3}}}});
  fs::path ws = dir.path() / "ws";
  auto run = ratchet::testing::RunProgram(
      ratchet::testing::RatchetArgs(
          {"run", spec.string(), "--workspace", ws.string(), "--max-experiments", "12"}),
      dir.path());
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  auto report = ratchet::testing::RunProgram(
      ratchet::testing::RatchetArgs(
          {"report", "--workspace", ws.string(), "--html", (dir.path() / "r.html").string()}),
      dir.path());
  ASSERT_TRUE(report.result.Succeeded()) << report.err;
  std::string html = ReadFile(dir.path() / "r.html");
  RunData data = LoadWorkspaceRun(ws, "");
  EXPECT_EQ(AttributeValues(html, "data-seq").size(), data.experiments.size());
  std::vector<std::string> statuses = AttributeValues(html, "data-status");
  EXPECT_GE(std::count(statuses.begin(), statuses.end(), "crashed"), 1) << run.out;
  EXPECT_THAT(html, HasSubstr("killed by SIGABRT"));
  EXPECT_EQ(AttributeValues(html, "data-label-seq").size(), AcceptedChanges(data).size());
  // The baseline config is read from git; the best differs from it.
  EXPECT_THAT(html, HasSubstr("<td>x</td><td>-3.0</td>"));
  if (!AcceptedChanges(data).empty()) EXPECT_THAT(html, HasSubstr("class=\"differs\""));
}

// --- the page in a real browser ---

TEST_F(ReportTest, HeadlessChromiumRendersEveryPointAndLabel) {
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    GTEST_SKIP() << "/usr/bin/chromium is absent (Debian package chromium; scripts/install-deps "
                    "installs it)";
  }
  std::string html = RenderReportHtml(Load());
  // A probe appended to the page counts the points the browser laid out with
  // a non-empty box, so the DOM dump shows what was really rendered.
  std::string probe =
      "<script>var n=0;document.querySelectorAll('svg [data-seq]').forEach(function(e){"
      "var r=e.getBoundingClientRect();if(r.width>0&&r.height>0)n++;});"
      "document.body.setAttribute('data-rendered-points',n);"
      "document.body.setAttribute('data-rendered-labels',"
      "document.querySelectorAll('svg [data-label-seq]').length);</script>";
  html.insert(html.rfind("</body>"), probe);
  fs::path page = dir_.path() / "report.html";
  WriteFileAtomic(page, html);

  auto dom =
      ratchet::testing::RunProgram(HeadlessChromiumArgv(chromium, dir_.path() / "profile1",
                                                        {"--dump-dom", "file://" + page.string()}),
                                   dir_.path(), 120);
  ASSERT_TRUE(dom.result.Succeeded()) << dom.err;
  EXPECT_EQ(AttributeValues(dom.out, "data-rendered-points"), std::vector<std::string>{"11"});
  EXPECT_EQ(AttributeValues(dom.out, "data-rendered-labels"), std::vector<std::string>{"2"});
  EXPECT_EQ(AttributeValues(dom.out, "data-seq").size(), 11u);
  EXPECT_THAT(dom.out, HasSubstr(">lr 0.1 -&gt; 0.2</text>"));

  fs::path artifacts = fs::path(RATCHET_BIN_DIR).parent_path() / "test-artifacts";
  fs::create_directories(artifacts);
  fs::path shot = artifacts / "report.png";
  fs::remove(shot);
  auto screenshot = ratchet::testing::RunProgram(
      HeadlessChromiumArgv(
          chromium, dir_.path() / "profile2",
          {"--screenshot=" + shot.string(), "--window-size=1400,900", "file://" + page.string()}),
      dir_.path(), 120);
  ASSERT_TRUE(screenshot.result.Succeeded()) << screenshot.err;
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 20000u);  // a blank page is a few kB
}

}  // namespace
}  // namespace ratchet
