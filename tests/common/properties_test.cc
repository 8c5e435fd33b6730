#include "common/properties.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tideline {
namespace {

Properties parse_ok(std::string_view text) {
  auto r = Properties::parse(text, "p.properties");
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? std::move(*r) : Properties();
}

TEST(Properties, CommentsAndBlankLines) {
  auto p = parse_ok("# comment\n! also comment\n   # indented comment\n\n  \t\na=1\n");
  EXPECT_EQ(p.keys(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(p.get("a"), "1");
  EXPECT_EQ(p.entry("a")->line, 6);
}

TEST(Properties, Separators) {
  auto p = parse_ok(
      "eq=1\n"
      "colon:2\n"
      "space 3\n"
      "spaced   =   4\n"
      "  lead\t: 5\n"
      "tabsep\t\t6\n"
      "ws_then_eq  =7\n"
      "double==8\n"
      "keyonly\n"
      "keyonly2   \n"
      "empty=\n"
      "trail=value  \n");
  EXPECT_EQ(p.get("eq"), "1");
  EXPECT_EQ(p.get("colon"), "2");
  EXPECT_EQ(p.get("space"), "3");
  EXPECT_EQ(p.get("spaced"), "4");
  EXPECT_EQ(p.get("lead"), "5");
  EXPECT_EQ(p.get("tabsep"), "6");
  EXPECT_EQ(p.get("ws_then_eq"), "7");
  EXPECT_EQ(p.get("double"), "=8");  // only one separator is consumed
  EXPECT_EQ(p.get("keyonly"), "");
  EXPECT_EQ(p.get("keyonly2"), "");
  EXPECT_EQ(p.get("empty"), "");
  EXPECT_EQ(p.get("trail"), "value  ");  // trailing whitespace is kept
}

TEST(Properties, Escapes) {
  auto p = parse_ok(
      "tabs=a\\tb\\nc\\rd\\fe\n"
      "key\\ with\\ spaces=x\n"
      "key\\=eq\\:colon=y\n"
      "other=\\q\\\\\\#\n"
      "\\#notcomment=z\n");
  EXPECT_EQ(p.get("tabs"), "a\tb\nc\rd\fe");
  EXPECT_EQ(p.get("key with spaces"), "x");
  EXPECT_EQ(p.get("key=eq:colon"), "y");
  EXPECT_EQ(p.get("other"), "q\\#");
  EXPECT_EQ(p.get("#notcomment"), "z");
}

TEST(Properties, UnicodeEscapes) {
  auto p = parse_ok(
      "a=\\u0041\\u00e9\\u20AC\n"
      "pair=\\uD83D\\uDE00\n"
      "lone=\\uD83Dx\n"
      "\\u006b=key escaped\n"
      "raw=caf\xC3\xA9\n");
  EXPECT_EQ(p.get("a"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(p.get("pair"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(p.get("lone"), "\xEF\xBF\xBDx");
  EXPECT_EQ(p.get("k"), "key escaped");
  EXPECT_EQ(p.get("raw"), "caf\xC3\xA9");
}

TEST(Properties, MalformedUnicodeEscapeNamesTheLine) {
  auto r = Properties::parse("a=1\nb=\\u12G4\n", "conf.properties");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kParseError);
  EXPECT_EQ(r.error().message(), "conf.properties:2: malformed \\uXXXX escape '\\u12G4'");
  auto t = Properties::parse("c=\\u12", "x");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message(), "x:1: malformed \\uXXXX escape '\\u12'");
}

TEST(Properties, Continuations) {
  auto p = parse_ok(
      "list=a,\\\n"
      "     b,\\\n"
      "\t c\n"
      "even=x\\\\\n"
      "next=1\n"
      "odd=y\\\\\\\n"
      "  z\n"
      "cont\\\n"
      "  key=v\n"
      "crlf=1\\\r\n"
      "  2\r\n"
      "# comment \\\n"
      "after=ok\n"
      "hash=a\\\n"
      "  # not a comment\n"
      "last=end\\");
  EXPECT_EQ(p.get("list"), "a,b,c");
  EXPECT_EQ(p.entry("list")->line, 1);
  EXPECT_EQ(p.get("even"), "x\\");
  EXPECT_EQ(p.get("next"), "1");
  EXPECT_EQ(p.entry("next")->line, 5);
  EXPECT_EQ(p.get("odd"), "y\\z");
  EXPECT_EQ(p.get("contkey"), "v");
  EXPECT_EQ(p.get("crlf"), "12");
  EXPECT_EQ(p.get("after"), "ok");  // a comment line does not continue
  EXPECT_EQ(p.get("hash"), "a# not a comment");
  EXPECT_EQ(p.get("last"), "end");
}

TEST(Properties, LineEndings) {
  auto p = parse_ok("a=1\rb=2\r\nc=3\nd=4");
  EXPECT_EQ(p.get("a"), "1");
  EXPECT_EQ(p.get("b"), "2");
  EXPECT_EQ(p.get("c"), "3");
  EXPECT_EQ(p.get("d"), "4");
  EXPECT_EQ(p.entry("d")->line, 4);
}

TEST(Properties, LaterDuplicatesWin) {
  auto p = parse_ok("k=first\nother=x\nk=second\n");
  EXPECT_EQ(p.get("k"), "second");
  EXPECT_EQ(p.entry("k")->line, 3);
  EXPECT_EQ(p.keys().size(), 2u);
}

TEST(Properties, AccessorsAndSet) {
  auto p = parse_ok("b=2\na=1\n");
  EXPECT_EQ(p.source(), "p.properties");
  EXPECT_EQ(p.keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(p.contains("a"));
  EXPECT_FALSE(p.contains("zz"));
  EXPECT_EQ(p.get("zz"), std::nullopt);
  EXPECT_EQ(p.get_or("zz", "dflt"), "dflt");
  EXPECT_EQ(p.get_or("a", "dflt"), "1");
  EXPECT_EQ(p.entry("zz"), nullptr);
  p.set("zz", "9");
  EXPECT_EQ(p.get("zz"), "9");
  EXPECT_EQ(p.entry("zz")->line, 0);
}

TEST(Properties, EmptyInput) {
  EXPECT_TRUE(parse_ok("").keys().empty());
  EXPECT_TRUE(parse_ok("\n\n# x\n").keys().empty());
}

TEST(Properties, LoadFile) {
  auto path = (std::filesystem::temp_directory_path() /
               ("props_test_" + std::to_string(::getpid()) + ".properties"))
                  .string();
  {
    std::ofstream out(path);
    out << "# Pulsar "
           "client\nwebServiceUrl=http://localhost:8080/\nbrokerServiceUrl=pulsar://localhost:6650/"
           "\n";
  }
  auto p = Properties::load_file(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->source(), path);
  EXPECT_EQ(p->get("brokerServiceUrl"), "pulsar://localhost:6650/");
  EXPECT_EQ(p->entry("webServiceUrl")->line, 2);
}

TEST(Properties, UnreadableFileNamesTheFile) {
  auto p = Properties::load_file("/nonexistent/main-cfg.properties");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), StatusCode::kIoError);
  EXPECT_NE(p.error().message().find("/nonexistent/main-cfg.properties"), std::string::npos);
  auto dir = Properties::load_file(std::filesystem::temp_directory_path().string());
  EXPECT_FALSE(dir);
}

TEST(ParseLooseBool, Values) {
  for (const char* t : {"yes", "YES", "Yes", "true", "TRUE", "t", "T", "1", " true "}) {
    EXPECT_TRUE(parse_loose_bool(t)) << t;
  }
  for (const char* f : {"no", "false", "0", "", "y", "2", "tru", "on", "truee"}) {
    EXPECT_FALSE(parse_loose_bool(f)) << f;
  }
}

}  // namespace
}  // namespace tideline
