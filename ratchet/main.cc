// ratchet: runs autonomous research experiments as a ratchet. This file only
// parses the command line; each subcommand is one function of cli.h, and
// this is the one place an error becomes a message and an exit code.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "ratchet/cli.h"
#include "ratchet/error.h"
#include "ratchet/store.h"

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
