#include <catch2/catch.hpp>

#include <string>

#include "graph/json_escape.h"

using quiver::JsonEscape;

TEST_CASE("JsonEscape escapes quotes, backslashes and control characters only", "[json]") {
  CHECK(JsonEscape("plain/name:0") == "plain/name:0");
  CHECK(JsonEscape("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(JsonEscape("a\\b") == "a\\\\b");
  CHECK(JsonEscape("line\nnext\ttab") == "line\\nnext\\ttab");
  CHECK(JsonEscape(std::string("\x01\x1f", 2)) == "\\u0001\\u001f");
  CHECK(JsonEscape(std::string("nul\0x", 5)) == "nul\\u0000x");
  CHECK(JsonEscape("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 passes through
}
