// ratchet: runs autonomous research experiments as a ratchet. This file only
// parses the command line; each subcommand is one function of cli.h, and
// this is the one place an error becomes a message and an exit code.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "ratchet/cli/cli.h"
#include "base/error.h"
#include "ratchet/cli/init.h"
#include "ratchet/cli/propose_cli.h"
#include "ratchet/store/hardware.h"
#include "ratchet/store/store.h"
// --- issue 6 (reports; owner r1): includes ---
#include <chrono>
#include <thread>

#include "ratchet/report/compare.h"
#include "ratchet/report/export.h"
#include "ratchet/report/import.h"
#include "ratchet/report/report_html.h"
#include "ratchet/report/watch.h"
#include "ratchet/serve/server.h"
// --- end issue 6 includes ---

namespace {

// The folder of this executable: {bin_dir}, where ratchet-train & co. live.
std::filesystem::path SelfDir() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return std::filesystem::current_path();
  return std::filesystem::path(std::string(buffer, static_cast<size_t>(n))).parent_path();
}

void AddReadOptions(CLI::App* command, ratchet::ReadOptions& options, bool with_format,
                    const std::string& formats) {
  command->add_option("--workspace,-w", options.workspace, "Workspace folder")->required();
  command->add_option("--tag,-t", options.tag, "Run tag (default: the most recent run)");
  if (with_format) {
    command->add_option("--format,-f", options.format, "Output format: " + formats)
        ->check(CLI::IsMember(CLI::detail::split(formats, '|')));
  }
}

// --- issue 6 (reports; owner r1): report, compare, export, import, status --watch ---
struct ReportCommands {
  ratchet::ReportOptions report;
  ratchet::CompareOptions compare;
  ratchet::ExportOptions export_;
  ratchet::ImportOptions import;
  ratchet::WatchOptions watch;
  ratchet::ServeOptions serve;
  bool watching = false;
  CLI::App* report_command = nullptr;
  CLI::App* compare_command = nullptr;
  CLI::App* export_command = nullptr;
  CLI::App* import_command = nullptr;
  CLI::App* serve_command = nullptr;
};

void AddReportCommands(CLI::App& app, CLI::App* status_command, ReportCommands& c) {
  status_command->add_flag("--watch", c.watching, "Redraw until the run ends");
  status_command->add_option("--interval", c.watch.interval, "Seconds between redraws (--watch)")
      ->check(CLI::PositiveNumber);
  c.report_command = app.add_subcommand("report", "HTML report with the progress chart");
  c.report_command->add_option("--workspace,-w", c.report.workspace, "Workspace folder")->required();
  c.report_command->add_option("--tag,-t", c.report.tag, "Run tag (default: the most recent run)");
  c.report_command->add_option("--html", c.report.html, "Write the report page here");
  c.report_command->add_option("--svg", c.report.svg, "Write the progress chart alone (SVG)");
  c.report_command->add_option("--png", c.report.png, "Write the progress chart as PNG");
  c.compare_command = app.add_subcommand("compare", "Runs side by side (workspaces, DIR:TAG, store files)");
  c.compare_command->add_option("runs", c.compare.sources, "Workspace, workspace:tag or store.db")
      ->required()
      ->expected(2, -1);
  c.compare_command->add_option("--html", c.compare.html, "Write a page with the charts overlaid");
  c.compare_command->add_option("--x", c.compare.x_axis, "x of the charts: seq | hours")
      ->check(CLI::IsMember({"seq", "hours"}));
  c.export_command = app.add_subcommand("export", "A run's experiments as TSV, CSV or JSON");
  c.export_command->add_option("--workspace,-w", c.export_.workspace, "Workspace folder")->required();
  c.export_command->add_option("--tag,-t", c.export_.tag, "Run tag (default: the most recent run)");
  c.export_command->add_option("--format,-f", c.export_.format, "tsv | csv | json")
      ->check(CLI::IsMember({"tsv", "csv", "json"}));
  c.export_command->add_option("--output,-o", c.export_.output, "File (default: stdout)");
  c.import_command = app.add_subcommand("import", "Merge another machine's store into this workspace");
  c.import_command->add_option("store", c.import.store, "store.db to import")
      ->required()
      ->check(CLI::ExistingFile);
  c.import_command->add_option("--workspace,-w", c.import.workspace, "Workspace folder")->required();
  c.serve_command = app.add_subcommand("serve", "Live dashboard of a workspace in the browser");
  c.serve_command->add_option("--workspace,-w", c.serve.workspace, "Workspace folder")->required();
  c.serve_command->add_option("--port,-p", c.serve.port, "TCP port (0: any free one)")
      ->check(CLI::Range(0, 65535));
  c.serve_command->add_option("--host", c.serve.host,
                              "Address to listen on (default 127.0.0.1: this machine only)");
}

// Runs the subcommand of this block if one was given; false otherwise.
bool RunReportCommands(ReportCommands& c, const ratchet::ReadOptions& status, bool status_given) {
  if (status_given && c.watching) {
    c.watch.workspace = status.workspace;
    c.watch.tag = status.tag;
    ratchet::WatchStatus(c.watch, std::cout, ::isatty(STDOUT_FILENO) == 1, [](double seconds) {
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    });
    return true;
  }
  if (*c.report_command) ratchet::CommandReport(c.report, std::cout);
  else if (*c.compare_command) ratchet::CommandCompare(c.compare, std::cout);
  else if (*c.export_command) ratchet::CommandExport(c.export_, std::cout);
  else if (*c.import_command) ratchet::CommandImport(c.import, std::cout);
  else if (*c.serve_command) ratchet::CommandServe(c.serve, std::cout);
  else return false;
  return true;
}
// --- end issue 6 ---

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ratchet: improve a training setup (or a kernel) one measured step at a time"};
  app.require_subcommand(1);

  ratchet::RunOptions run;
  std::string until;
  CLI::App* run_command = app.add_subcommand("run", "Run or resume a ratchet from a spec");
  run_command->add_option("spec", run.spec_path, "Spec file (specs/*.json)")
      ->required()
      ->check(CLI::ExistingFile);
  run_command->add_option("--workspace,-w", run.workspace, "Workspace folder (created if absent)")
      ->required();
  run_command->add_option("--tag,-t", run.tag, "Run tag (default: the spec's name)");
  run_command->add_option("--max-experiments,-n", run.max_experiments,
                          "Stop after this many experiments")
      ->check(CLI::NonNegativeNumber);
  run_command->add_option("--hours", run.hours, "Stop starting experiments after H hours")
      ->check(CLI::NonNegativeNumber);
  run_command->add_option("--until", until, "Stop starting experiments at HH:MM (local time)");
  run_command->add_option("--budget", run.budget,
                          "Replace the spec's budget: seconds (time) or tokens (tokens)");
  run_command->add_option("--parallel,-j", run.parallel,
                          "Candidates in flight at once (default: the spec's parallel, 1)")
      ->check(CLI::PositiveNumber);
  run_command->add_option("--backend", run.backend,
                          "Where measurements run: local (default) or slurm (docs/cluster.md)")
      ->check(CLI::IsMember({"local", "slurm"}));
  run_command->add_flag("--warm-start", run.warm_start,
                        "Proposers also learn from earlier runs of this spec on this hardware");
  run_command->add_flag("--no-sandbox", run.no_sandbox,
                        "Run train and evaluate without the bubblewrap sandbox (a warning is "
                        "recorded)");

  bool hardware_json = false;
  CLI::App* hardware_command =
      app.add_subcommand("hardware", "This machine's hardware and its fingerprint");
  hardware_command->add_flag("--json", hardware_json, "As JSON (what a Slurm job reports)");

  ratchet::InitOptions init;
  CLI::App* init_command = app.add_subcommand(
      "init", "Write a starting spec for a repository in the autoresearch layout");
  init_command->add_option("dir", init.dir, "Repository with prepare.py, train.py, program.md")
      ->required();
  init_command->add_flag("--from-autoresearch", init.from_autoresearch,
                         "The repository has the autoresearch layout (the one init knows)");
  init_command->add_option("--output,-o", init.output, "Spec to write (default: DIR/ratchet.json)");
  init_command->add_flag("--force", init.force, "Replace an existing spec");

  ratchet::ProposeOptions propose;
  bool dry_run = false, no_prompt = false;
  CLI::App* propose_command =
      app.add_subcommand("propose", "Print the next experiment's mutation (--dry-run)");
  propose_command->add_option("spec", propose.spec_path, "Spec file (specs/*.json)")
      ->required()
      ->check(CLI::ExistingFile);
  propose_command->add_option("--workspace,-w", propose.workspace,
                              "Workspace folder (default: none, as a new run's first experiment)");
  propose_command->add_option("--tag,-t", propose.tag, "Run tag (default: the spec's name)");
  propose_command->add_flag("--dry-run", dry_run,
                            "Propose only: commit, run and record nothing (required)");
  propose_command->add_flag("--warm-start", propose.warm_start,
                            "Also give the proposer earlier runs' history");
  propose_command->add_flag("--no-prompt", no_prompt,
                            "Do not print the prompt and reply of agent/LLM proposers");

  ratchet::ReadOptions status, log, show, best;
  int64_t show_seq = 0;
  CLI::App* status_command = app.add_subcommand("status", "What a run is doing now");
  AddReadOptions(status_command, status, false, "");
  CLI::App* log_command = app.add_subcommand("log", "Every experiment of a run");
  AddReadOptions(log_command, log, true, "table|json|tsv");
  CLI::App* show_command = app.add_subcommand("show", "One experiment: decision, measurements, diff, logs");
  show_command->add_option("seq", show_seq, "Experiment number")->required();
  AddReadOptions(show_command, show, false, "");
  CLI::App* best_command = app.add_subcommand("best", "The best result of a run");
  AddReadOptions(best_command, best, true, "table|json");
  ReportCommands reports;  // issue 6
  AddReportCommands(app, status_command, reports);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  try {
    if (*run_command) {
      run.bin_dir = SelfDir();
      if (!until.empty()) run.until = ratchet::ParseUntil(until, ratchet::NowSeconds());
      return ratchet::CommandRun(run, std::cout);
    }
    if (*hardware_command) {
      const ratchet::HardwareInfo hardware = ratchet::DetectHardware();
      if (hardware_json) {
        std::cout << hardware.ToJson().dump() << "\n";
      } else {
        std::cout << hardware.cpu_model << ", " << hardware.cores << " cores, "
                  << (hardware.memory_bytes >> 20) << " MiB; " << hardware.os << "; "
                  << hardware.compiler << "\nfingerprint " << hardware.Fingerprint() << "\n";
      }
      return 0;
    }
    if (*init_command) {
      ratchet::CommandInit(init, std::cout);
      return 0;
    }
    if (*propose_command) {
      // Only dry runs exist: a proposal made outside the loop is never recorded.
      if (!dry_run) throw ratchet::Error("propose: --dry-run is required (the only mode)");
      propose.show_prompt = !no_prompt;
      return ratchet::CommandPropose(propose, std::cout);
    }
    if (RunReportCommands(reports, status, status_command->parsed())) return 0;  // issue 6
    if (*status_command) ratchet::CommandStatus(status, std::cout);
    if (*log_command) ratchet::CommandLog(log, std::cout);
    if (*show_command) ratchet::CommandShow(show, show_seq, std::cout);
    if (*best_command) ratchet::CommandBest(best, std::cout);
    return 0;
  } catch (const ratchet::Error& error) {
    std::cerr << "ratchet: error: " << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "ratchet: internal error: " << error.what() << "\n";
    return 2;
  }
}
