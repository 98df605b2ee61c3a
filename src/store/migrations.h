// Versioned schema migrations of state.db, declared once, in order. Migration N takes a database at
// version N-1 to version N; each runs in its own transaction together with the user_version bump.
// Never edit a migration that has shipped: add a new one.
#pragma once

#include <span>
#include <string_view>

namespace oc::store {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

std::span<const Migration> AllMigrations();

// Test hook: AllMigrations() returns `migrations` instead until called again with an empty span
// (the real list). Lets tests build a database at an older version and upgrade it. Tests only;
// not thread-safe.
void SetMigrationsForTesting(std::span<const Migration> migrations);

}  // namespace oc::store
