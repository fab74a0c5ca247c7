// The one page of `ratchet serve`: HTML, CSS and JavaScript in one string,
// nothing fetched from elsewhere. It routes by the URL's hash
// (#/run/TAG, #/run/TAG/exp/N, #/compare/A,B) and polls the JSON routes of
// server.h every two seconds, redrawing in place: no reloads.
#pragma once

#include <string_view>

namespace ratchet {

std::string_view DashboardHtml();

}  // namespace ratchet
