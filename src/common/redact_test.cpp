#include "common/redact.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <thread>

namespace oc {
namespace {

class RedactTest : public ::testing::Test {
 protected:
  void SetUp() override { ClearSecretsForTesting(); }
  void TearDown() override { ClearSecretsForTesting(); }
};

TEST_F(RedactTest, EmptyListLeavesTextAlone) {
  EXPECT_FALSE(HaveSecretValues());
  EXPECT_EQ(RedactIfNeeded("hunter2-password"), std::nullopt);
  EXPECT_EQ(Redact("plain"), "plain");
}

TEST_F(RedactTest, ReplacesEveryOccurrence) {
  ASSERT_TRUE(AddSecretValue("s3cr3t-value"));
  EXPECT_TRUE(HaveSecretValues());
  EXPECT_EQ(Redact("a s3cr3t-value b s3cr3t-value"), "a [redacted] b [redacted]");
  EXPECT_EQ(Redact("s3cr3t-value"), "[redacted]");
  EXPECT_EQ(RedactIfNeeded("nothing here"), std::nullopt);  // no copy when nothing matches
  std::string text = "token=s3cr3t-value;";
  EXPECT_TRUE(RedactInPlace(text));
  EXPECT_EQ(text, "token=[redacted];");
  EXPECT_FALSE(RedactInPlace(text));
}

TEST_F(RedactTest, ShortValuesAreNotAdded) {
  EXPECT_FALSE(AddSecretValue(""));
  EXPECT_FALSE(AddSecretValue("abc"));
  EXPECT_FALSE(HaveSecretValues());
  EXPECT_EQ(Redact("abc abc"), "abc abc");
  EXPECT_TRUE(AddSecretValue("abcd"));
  EXPECT_EQ(Redact("xabcdx"), "x[redacted]x");
}

TEST_F(RedactTest, DuplicatesCountOnce) {
  EXPECT_EQ(AddSecretValues({"one-secret", "two-secret", "one-secret", "no"}), 2u);
  EXPECT_EQ(SecretValueCount(), 2u);
  EXPECT_FALSE(AddSecretValue("two-secret"));
}

TEST_F(RedactTest, OverlappingAndNestedValuesAreRedactedWhole) {
  AddSecretValue("abcdef");
  AddSecretValue("defghi");  // overlaps the end of the first
  AddSecretValue("bcde");    // inside the first
  EXPECT_EQ(Redact("xxabcdefghiyy"), "xx[redacted]yy");
  EXPECT_EQ(Redact("bcde and abcdef"), "[redacted] and [redacted]");
  // Adjacent matches merge into one run.
  EXPECT_EQ(Redact("abcdefdefghi"), "[redacted]");
}

TEST_F(RedactTest, JsonEscapedFormIsMatchedToo) {
  const std::string value = "pa\"ss\\wo\nrd";
  AddSecretValue(value);
  boost::json::value frame = {{"message", "the value is " + value}};
  std::string text = boost::json::serialize(frame);
  ASSERT_EQ(text.find(value), std::string::npos);  // only the escaped form is in the frame
  std::string redacted = Redact(text);
  EXPECT_EQ(redacted, R"({"message":"the value is [redacted]"})");
  EXPECT_EQ(Redact("raw " + value), "raw [redacted]");
  EXPECT_EQ(SecretValueCount(), 1u);
}

TEST_F(RedactTest, Utf8ValuesAreMatchedBytewise) {
  AddSecretValue("pässwörd");
  EXPECT_EQ(Redact("x=pässwörd"), "x=[redacted]");
}

TEST_F(RedactTest, ConcurrentAddAndRedact) {
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      std::string out = Redact("prefix secret-0001 suffix");
      EXPECT_TRUE(out == "prefix secret-0001 suffix" || out == "prefix [redacted] suffix");
    }
  });
  for (int i = 0; i < 200; ++i) AddSecretValue("secret-" + std::to_string(1000 + i));
  AddSecretValue("secret-0001");
  stop = true;
  reader.join();
  EXPECT_EQ(Redact("prefix secret-0001 suffix"), "prefix [redacted] suffix");
  EXPECT_EQ(SecretValueCount(), 201u);
}

}  // namespace
}  // namespace oc
