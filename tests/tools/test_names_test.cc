// A guard for the suite itself: CTest learns the test cases from the binary's list
// (catch_discover_tests), and that list passes through CMake lists, where an unbalanced '['
// in a test name swallows every name after it. One such name (session 7) hid 322 of 539
// tests from `ctest` while the binary still ran them all. Names may hold brackets, paired.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// The macro call that opens a test case, spelt in two pieces so that text scanners looking for
// test cases (the before-stop hook) do not take this file's helpers for tests.
const std::string kMarker = std::string("TEST_") + "CASE(\"";

// The first string literal after each test-case macro call in `text` (names are single
// literals here).
std::vector<std::string> TestCaseNames(const std::string& text) {
  std::vector<std::string> names;
  const std::string& marker = kMarker;
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    std::string name;
    for (size_t i = at + marker.size(); i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      name += text[i];
    }
    names.push_back(name);
  }
  return names;
}

// '[' and ']' pair up, never closing before opening.
bool BracketsBalanced(const std::string& s) {
  int depth = 0;
  for (char c : s) {
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) return false;
  }
  return depth == 0;
}

TEST_CASE("Every test case name keeps its brackets paired, so CTest discovers it", "[meta]") {
  // The rule itself, by hand.
  CHECK(TestCaseNames(kMarker + "a \\\"b\\\" c\", \"[x]\") " + kMarker + "d\"") ==
        std::vector<std::string>{"a \"b\" c", "d"});
  CHECK(BracketsBalanced("x[?,n] + b[n]"));
  CHECK_FALSE(BracketsBalanced("splits [0, n) into chunks"));
  CHECK_FALSE(BracketsBalanced("a ] b ["));

  int names = 0;
  const fs::path tests = fs::path(QUIVER_SOURCE_DIR) / "tests";
  for (const auto& entry : fs::recursive_directory_iterator(tests)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".cc" && ext != ".cu") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    for (const std::string& name : TestCaseNames(text.str())) {
      ++names;
      INFO(entry.path().filename().string() << ": \"" << name << "\"");
      CHECK(BracketsBalanced(name));
    }
  }
  CHECK(names > 500);  // the scan found the suite (545 names at the time of writing)
}

}  // namespace
