#include "ratchet/spec/placeholders.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace ratchet {
namespace {

std::string ErrorOf(const std::string& arg, const Vars& vars) {
  try {
    Substitute(arg, vars);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << arg;
  return "";
}

const Vars kVars = {
    {"workspace", "/w s"}, {"seed", "7"}, {"run_dir", "/runs/3"}, {"budget", "300"}};

TEST(PlaceholdersTest, ArgumentsWithoutPlaceholdersAreUnchanged) {
  EXPECT_EQ(Substitute(std::vector<std::string>{"prog", "--x", "", "a b"}, kVars),
            (std::vector<std::string>{"prog", "--x", "", "a b"}));
}

TEST(PlaceholdersTest, EachArgumentIsSubstitutedOnItsOwn) {
  // A value with a space stays inside its one argument: no shell splitting.
  EXPECT_EQ(Substitute(std::vector<std::string>{"{workspace}/p.json", "--seed", "{seed}"}, kVars),
            (std::vector<std::string>{"/w s/p.json", "--seed", "7"}));
}

TEST(PlaceholdersTest, SeveralPlaceholdersInOneArgument) {
  EXPECT_EQ(Substitute("--out={run_dir}/s{seed}_{seed}.json", kVars), "--out=/runs/3/s7_7.json");
  EXPECT_EQ(Substitute("{budget}{seed}", kVars), "3007");
}

TEST(PlaceholdersTest, DoubledBracesAreLiteralBraces) {
  EXPECT_EQ(Substitute("{{\"seed\": {seed}}}", kVars), "{\"seed\": 7}");
  EXPECT_EQ(Substitute("{{seed}}", kVars), "{seed}");
  EXPECT_EQ(PlaceholderNames("{{seed}}"), std::vector<std::string>{});
}

TEST(PlaceholdersTest, UnknownNameIsAnErrorNamingIt) {
  EXPECT_EQ(ErrorOf("--x={nope}", kVars), "unknown placeholder {nope} in argument \"--x={nope}\"");
}

TEST(PlaceholdersTest, KnownNameWithoutAValueIsNotAvailable) {
  // The train command's vars have no data_dir: substitution refuses it.
  EXPECT_EQ(ErrorOf("{data_dir}/val.bin", kVars),
            "placeholder {data_dir} is not available here in argument \"{data_dir}/val.bin\"");
}

TEST(PlaceholdersTest, MalformedBracesAreErrors) {
  EXPECT_EQ(ErrorOf("{seed", kVars),
            "unclosed '{' in argument \"{seed\" (write {{ for a literal brace)");
  EXPECT_EQ(ErrorOf("a}b", kVars), "lone '}' in argument \"a}b\" (write }} for a literal brace)");
  EXPECT_EQ(
      ErrorOf("{}", kVars),
      "malformed placeholder {} in argument \"{}\" (names are lower-case letters, digits and _; "
      "write {{ for a literal brace)");
  EXPECT_THROW(PlaceholderNames("{Seed}"), Error);
  EXPECT_THROW(PlaceholderNames("{a b}"), Error);
}

TEST(PlaceholdersTest, NamesAreListedInOrderWithRepeats) {
  EXPECT_EQ(PlaceholderNames("{a}x{b_2}{a}"), (std::vector<std::string>{"a", "b_2", "a"}));
  EXPECT_TRUE(PlaceholderNames("plain").empty());
}

TEST(PlaceholdersTest, KnownNamesAreTheDocumentedOnes) {
  for (const char* n : {"workspace", "run_dir", "seed", "budget", "budget_kind", "threads",
                        "spec_dir", "bin_dir", "cache_dir", "train_data", "data_dir"}) {
    EXPECT_TRUE(IsKnownPlaceholder(n)) << n;
  }
  EXPECT_EQ(kKnownPlaceholders.size(), 11u);
  EXPECT_FALSE(IsKnownPlaceholder("home"));
}

}  // namespace
}  // namespace ratchet
