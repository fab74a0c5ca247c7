// A minimal HTTP(S) client for the `openai` proposer: one POST with a JSON
// body, a deadline on the whole exchange, the status and body back.
// Built on cpp-httplib (Debian libcpp-httplib-dev): one small library that is
// also a server, so tests can stand up a scripted endpoint on 127.0.0.1.
#pragma once

#include <map>
#include <string>

#include "base/error.h"

namespace ratchet {

// The exchange failed before a status line arrived: bad URL, connection
// refused, the deadline passed, the connection dropped.
class HttpError : public Error {
 public:
  using Error::Error;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// POSTs `body` (Content-Type: application/json) to `url`
// ("http[s]://host[:port]/path"), with extra `headers`. A non-2xx status is a
// normal HttpResponse. Throws HttpError (naming the URL) on a malformed URL,
// a network failure, or when the whole exchange takes longer than
// `timeout_seconds`.
HttpResponse PostJson(const std::string& url, const std::string& body,
                      const std::map<std::string, std::string>& headers, double timeout_seconds);

}  // namespace ratchet
