// Errors of the infrastructure (a malformed spec, a broken store, a git
// failure) are thrown as ratchet::Error and turned into a one-line message in
// exactly one place: main(). An experiment that fails is not an error: it is a
// recorded outcome (see store.h statuses).
#pragma once

#include <stdexcept>
#include <string>

namespace ratchet {

class Error : public std::runtime_error {
 public:
  // REQUIRES: message is one line naming the file (or key, or command) and the problem.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ratchet
