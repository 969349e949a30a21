// Checks the recorded histories of the linearizability corpus against the
// verdicts its EXPECTED.tsv files give. CORAFT_LINEARIZABILITY_DATA names the
// corpus directory (meson test sets it from the testdata_dir option).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "history_io.h"
#include "linearizability.h"

using namespace coraft::lin;
namespace fs = std::filesystem;

namespace {

fs::path corpus_directory() {
  const char* path = std::getenv("CORAFT_LINEARIZABILITY_DATA");
  if (path == nullptr) FAIL("CORAFT_LINEARIZABILITY_DATA must name the corpus directory (meson test sets it)");
  if (!fs::is_directory(path)) {
    FAIL("linearizability corpus not found at " << path << "; point the Meson option testdata_dir at it");
  }
  return path;
}

verdict parse_verdict(const std::string& text) {
  if (text == "linearizable") return verdict::linearizable;
  if (text == "not-linearizable") return verdict::not_linearizable;
  FAIL("unknown verdict \"" << text << "\" in EXPECTED.tsv");
  return verdict::gave_up;
}

// File name -> expected verdict.
std::map<std::string, verdict> read_expected(const fs::path& folder) {
  std::ifstream in(folder / "EXPECTED.tsv");
  if (!in) FAIL("cannot read " << (folder / "EXPECTED.tsv"));
  std::map<std::string, verdict> expected;
  std::string name;
  std::string text;
  while (std::getline(in, name, '\t') && std::getline(in, text)) expected.emplace(name, parse_verdict(text));
  return expected;
}

// Reads and checks every history of `folder` listed in its EXPECTED.tsv, and
// makes sure no history file is left unlisted.
template <class CheckFile>
void check_folder(const fs::path& folder, std::size_t history_count, CheckFile check_file) {
  const auto expected = read_expected(folder);
  CHECK(expected.size() == history_count);
  for (const auto& entry : fs::directory_iterator(folder)) {
    const auto name = entry.path().filename().string();
    INFO(name << " is a history without an expected verdict");
    CHECK((name == "EXPECTED.tsv" || expected.contains(name)));
  }
  for (const auto& [name, verdict] : expected) {
    std::ifstream in(folder / name);
    INFO(name);
    REQUIRE(in);
    const auto result = check_file(in);
    INFO("key \"" << result.key << "\": " << result.explanation);
    CHECK(result.verdict == verdict);
  }
}

}  // namespace

TEST_CASE("every recorded kv history gets its expected verdict") {
  check_folder(corpus_directory() / "kv", 6, [](std::istream& in) { return check_kv(read_edn_kv_history(in)); });
}

TEST_CASE("every recorded Jepsen etcd history gets its expected verdict") {
  check_folder(corpus_directory() / "jepsen-etcd", 102,
               [](std::istream& in) { return check_register(read_jepsen_register_history(in)); });
}
