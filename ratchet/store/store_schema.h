// The store's schema as an ordered list of migrations. Migration i (0-based)
// takes a database from user_version i to i + 1; a new database runs them
// all. Never edit a released migration: append a new one.
#pragma once

#include <span>
#include <string_view>

namespace ratchet {

// Marks the file as a ratchet store (PRAGMA application_id, "RTCH").
inline constexpr int kStoreApplicationId = 0x52544348;

// The SQL scripts, oldest first. kStoreSchemaVersion == size().
std::span<const std::string_view> StoreMigrations();
inline constexpr int kStoreSchemaVersion = 4;

}  // namespace ratchet
