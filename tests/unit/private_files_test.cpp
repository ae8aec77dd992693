// Secrets and the store are private from their first byte: the registration file Tyr writes, the
// data directory and every file RocksDB creates in it, whatever umask the process started with.

#include "engine/core/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "engine/config/config.hpp"
#include "engine/store/store.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using tyr::engine::Cf;
using tyr::engine::Config;
using tyr::engine::random_token;
using tyr::engine::Store;

using tyr::test::TempDir;

// Sets the umask for one test and puts the old one back.
class Umask {
 public:
  explicit Umask(mode_t mask) : old_(::umask(mask)) {}
  ~Umask() { ::umask(old_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t old_;
};

// Captures what is written to stderr (Tyr's log) while it lives.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(::dup(2)) {
    std::fflush(stderr);
    ::dup2(::fileno(file_), 2);
  }
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Config registration_config() {
  Config cfg;
  cfg.homeserver.server_name = "example.org";
  cfg.appservice.as_token = random_token();
  cfg.appservice.hs_token = random_token();
  return cfg;
}

}  // namespace

TEST_CASE("private files: a fresh registration file is 0600 whatever the umask",
          "[private_files]") {
  TempDir dir(/*create=*/true);
  const fs::path reg = dir.path() / "registration.yaml";
  const Config cfg = registration_config();
  {
    Umask open_to_all(0);  // a file created with the default mode would be 0666
    REQUIRE(tyr::write_private_file(reg, tyr::engine::registration_yaml(cfg)).ok());
  }
  CHECK(mode_of(reg) == 0600);
  CHECK(YAML::LoadFile(reg.string())["hs_token"].as<std::string>() == cfg.appservice.hs_token);
  // Nothing is left beside it: the temporary file was renamed into place.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("private files: a shared file is replaced by a private one, a link is kept",
          "[private_files]") {
  TempDir dir(/*create=*/true);
  const fs::path reg = dir.path() / "registration.yaml";
  std::ofstream(reg) << "as_token: old\n";
  fs::permissions(reg, fs::perms(0644));
  REQUIRE(tyr::write_private_file(reg, "as_token: new\n").ok());
  CHECK(mode_of(reg) == 0600);
  CHECK(read(reg) == "as_token: new\n");

  // An operator who keeps the file elsewhere and links to it gets the file replaced, not the link.
  const fs::path link = dir.path() / "link.yaml";
  fs::create_symlink(reg, link);
  REQUIRE(tyr::write_private_file(link, "as_token: newer\n").ok());
  CHECK(fs::is_symlink(link));
  CHECK(read(reg) == "as_token: newer\n");
  CHECK(mode_of(reg) == 0600);

  auto missing_dir = tyr::write_private_file(dir.path() / "no" / "such.yaml", "x");
  REQUIRE_FALSE(missing_dir.ok());
  CHECK(missing_dir.error().message ==
        "cannot create a file in " + (dir.path() / "no").string() + ": No such file or directory");
}

TEST_CASE("private files: the data dir is 0700 and every store file 0600", "[private_files]") {
  TempDir dir(/*create=*/true);
  const fs::path data = dir.path() / "state" / "data";
  Umask usual(022);  // put back at the end, whatever restrict_umask sets
  {
    Store store(data);  // a process that never called restrict_umask: the directory is private
  }
  CHECK(mode_of(data) == 0700);
  fs::remove_all(data);

  CHECK(tyr::restrict_umask() == 022);  // what `tyr run` does before anything else
  {
    Store store(data);
    tyr::engine::Batch batch;
    batch.put(Cf::kState, "secret-looking", "message text");
    REQUIRE(store.commit(batch).ok());
  }
  CHECK(mode_of(data) == 0700);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(data)) {
    const std::string name = entry.path().filename().string();
    names.push_back(name);
    INFO(name);
    CHECK((mode_of(entry.path()) & tyr::kNonOwnerBits) == 0);
  }
  CHECK(std::find(names.begin(), names.end(), "LOG") != names.end());
  CHECK(std::find(names.begin(), names.end(), "CURRENT") != names.end());
}

TEST_CASE("private files: an existing shared data dir is warned about and left as it is",
          "[private_files]") {
  TempDir dir(/*create=*/true);
  const fs::path data = dir.path() / "data";
  fs::create_directories(data);
  fs::permissions(data, fs::perms(0750));
  std::string log;
  {
    StderrCapture capture;
    Store store(data);
    log = capture.text();
  }
  CHECK(mode_of(data) == 0750);
  CHECK_THAT(log, Catch::Contains("[store] the data directory " + data.string() +
                                  " is accessible to other users (mode 750); it holds message "
                                  "text and user IDs: chmod 700 " +
                                  data.string()));

  // A private one is not.
  const fs::path quiet = dir.path() / "quiet";
  {
    StderrCapture capture;
    Store store(quiet);
    log = capture.text();
  }
  CHECK(log.find("accessible to other users") == std::string::npos);
}

TEST_CASE("private files: create_private_dir refuses a file in the way", "[private_files]") {
  TempDir dir(/*create=*/true);
  std::ofstream(dir.path() / "file") << "x";
  auto made = tyr::create_private_dir(dir.path() / "file");
  REQUIRE_FALSE(made.ok());
  CHECK(made.error().message == (dir.path() / "file").string() + " is not a directory");
  auto fresh = tyr::create_private_dir(dir.path() / "a" / "b/");
  REQUIRE(fresh.ok());
  CHECK(*fresh == 0700);
  CHECK(mode_of(dir.path() / "a" / "b") == 0700);
}
