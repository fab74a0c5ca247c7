#include "ratchet/report/report_png.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/runner/runner.h"

namespace ratchet {
namespace fs = std::filesystem;

std::optional<fs::path> FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) {
      return candidate;
    }
  }
  return std::nullopt;
}

std::vector<std::string> HeadlessChromiumArgv(const fs::path& chromium, const fs::path& profile_dir,
                                              const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {chromium.string(),
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--hide-scrollbars",
                                   "--user-data-dir=" + profile_dir.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

namespace {

void RunConverter(const std::vector<std::string>& argv, const fs::path& log_dir,
                  const fs::path& png_file) {
  RunRequest request;
  request.argv = argv;
  request.stdout_path = log_dir / "converter.out";
  request.stderr_path = log_dir / "converter.err";
  request.timeout_seconds = 60;
  PosixProcessRunner runner;
  RunResult result = runner.Run(request);
  if (!result.Succeeded() || !fs::exists(png_file) || fs::file_size(png_file) == 0) {
    std::string err = ReadLogTail(request.stderr_path, 300);
    for (char& c : err) {
      if (c == '\n') c = ' ';
    }
    throw Error(argv[0] + " (converting to " + png_file.string() + "): " + result.Describe() +
                (err.empty() ? "" : ": " + err));
  }
}

}  // namespace

void SvgToPng(const fs::path& svg_file, const fs::path& png_file, int width, int height) {
  std::string pattern = (fs::temp_directory_path() / "ratchet-png-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw Error(ErrnoMessage(pattern, "mkdtemp"));
  fs::path temp = pattern;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{temp};
  fs::path out = fs::absolute(png_file);
  if (auto rsvg = FindInPath("rsvg-convert")) {
    RunConverter({rsvg->string(), "--format=png", "--background-color=white",
                  "--width=" + std::to_string(width), "--height=" + std::to_string(height),
                  "--output=" + out.string(), fs::absolute(svg_file).string()},
                 temp, out);
    return;
  }
  if (auto chromium = FindInPath("chromium")) {
    // Chromium screenshots a page: wrap the SVG in one without margins.
    fs::path page = temp / "chart.html";
    WriteFileAtomic(page, "<!DOCTYPE html><html><body style=\"margin:0;background:#fff\">" +
                              ReadFile(svg_file) + "</body></html>");
    RunConverter(HeadlessChromiumArgv(
                     *chromium, temp / "profile",
                     {"--screenshot=" + out.string(),
                      "--window-size=" + std::to_string(width) + "," + std::to_string(height),
                      "file://" + page.string()}),
                 temp, out);
    return;
  }
  throw Error("--png " + png_file.string() +
              ": no SVG converter found; install the Debian package librsvg2-bin "
              "(rsvg-convert) or chromium");
}

}  // namespace ratchet
