// Test-only helpers for the registry tests: manifest builders and a scratch directory.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "registry/manifest.h"

namespace oc::registry::testing {

// A valid app manifest; tests mutate it to break one rule at a time.
inline json::object BaseManifest(const std::string& id = "@test/echo") {
  json::object m = json::parse(R"({
    "name": "Echo", "version": "1.2.3", "type": "app", "main": "bin/echo",
    "protocol": {"version": "1.0"},
    "capabilities": {}
  })")
                       .as_object();
  m["id"] = id;
  return m;
}

inline std::string Text(const json::object& o) { return json::serialize(o); }

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "oc-registry-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = ::mkdtemp(buf.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& p, const std::string& text,
                      bool executable = false) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
  if (executable) ::chmod(p.c_str(), 0755);
}

// A package directory with `manifest` and, when the manifest names one, an executable `main`.
inline std::filesystem::path WritePackage(const std::filesystem::path& dir,
                                          const json::object& manifest) {
  WriteFile(dir / kManifestFileName, json::serialize(manifest));
  if (auto* main = manifest.if_contains("main"); main && main->is_string())
    WriteFile(dir / std::string(main->get_string()), "#!/bin/sh\nexit 0\n", true);
  return dir;
}

inline bool IsExecutable(const std::filesystem::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXUSR);
}

}  // namespace oc::registry::testing
