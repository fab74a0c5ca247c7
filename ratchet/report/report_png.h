// SVG → PNG with a converter from Debian's packages, found in PATH at run
// time (ratchet links no image library): rsvg-convert (package librsvg2-bin)
// when installed, else headless Chromium (package chromium).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ratchet {

// The executable `name` in PATH, if any.
std::optional<std::filesystem::path> FindInPath(const std::string& name);

// Headless Chromium with everything that reaches the network or the user's
// profile turned off; `profile_dir` must be a fresh temp dir. `extra` is
// appended (e.g. "--dump-dom", "--screenshot=…", then the URL).
std::vector<std::string> HeadlessChromiumArgv(const std::filesystem::path& chromium,
                                              const std::filesystem::path& profile_dir,
                                              const std::vector<std::string>& extra);

// Renders `svg_file` (width × height units) to `png_file`. Throws Error naming
// the package to install when no converter is found, or the converter's
// failure.
void SvgToPng(const std::filesystem::path& svg_file, const std::filesystem::path& png_file,
              int width, int height);

}  // namespace ratchet
