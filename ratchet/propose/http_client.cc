#include "ratchet/propose/http_client.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <regex>

namespace ratchet {

HttpResponse PostJson(const std::string& url, const std::string& body,
                      const std::map<std::string, std::string>& headers, double timeout_seconds) {
  static const std::regex kUrl(R"(^(https?://[^/?#]+)(/[^#]*)?$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    throw HttpError(url + ": not an http(s) URL");
  }
  const std::string origin = m[1].str();
  const std::string path = m[2].matched ? m[2].str() : "/";

  httplib::Client client(origin);
  if (!client.is_valid()) throw HttpError(url + ": unsupported URL");
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  const auto timeout = std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(false);

  httplib::Request request;
  request.method = "POST";
  request.path = path;
  for (const auto& [key, value] : headers) request.headers.emplace(key, value);
  request.headers.emplace("Content-Type", "application/json");
  request.body = body;
  // The read timeout is per read; the progress callback enforces the
  // deadline on the whole body (a server trickling bytes cannot hold us).
  request.progress = [&](uint64_t, uint64_t) { return Clock::now() < deadline; };

  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  bool ok = client.send(request, response, error);
  if (!ok || error != httplib::Error::Success) {
    std::string what = httplib::to_string(error);
    if (Clock::now() >= deadline) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "no complete reply within %g s", timeout_seconds);
      what = buf;
    }
    throw HttpError("POST " + url + ": " + what);
  }
  return HttpResponse{response.status, response.body};
}

}  // namespace ratchet
