#include "ratchet/loop/metric_reader.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ratchet {
namespace {

MetricSpec Json(const std::string& name) {
  return {name, MetricSpec::Goal::kMinimize, MetricSpec::Format::kJson};
}
MetricSpec KeyValue(const std::string& name) {
  return {name, MetricSpec::Goal::kMinimize, MetricSpec::Format::kKeyValue};
}

TEST(ReadMetric, TakesTheLastJsonLineHoldingTheMetric) {
  std::string output =
      "{\"val_bpb\": 3.0}\nprogress...\n{\"val_bpb\": 1.25, \"bytes\": 1000}\n{\"other\": 1}\n";
  MetricReading reading = ReadMetric(output, Json("val_bpb"));
  ASSERT_TRUE(reading.value);
  EXPECT_DOUBLE_EQ(*reading.value, 1.25);
  EXPECT_EQ(reading.extra["bytes"], 1000);
}

TEST(ReadMetric, IsAbsentWhenNoLineNamesTheMetric) {
  EXPECT_FALSE(ReadMetric("{\"loss\": 1}\nval_bpb 2\n", Json("val_bpb")).value);
  EXPECT_FALSE(ReadMetric("", KeyValue("val_bpb")).value);
}

TEST(ReadMetric, ReadsNonFiniteValuesAsSuchSoTheyCountAsCrashes) {
  EXPECT_TRUE(std::isnan(*ReadMetric("{\"score\": NaN}", Json("score")).value));
  EXPECT_TRUE(std::isnan(*ReadMetric("{\"score\": null}", Json("score")).value));
  EXPECT_TRUE(std::isinf(*ReadMetric("{\"score\": -Infinity}", Json("score")).value));
  EXPECT_TRUE(std::isnan(*ReadMetric("score: nan\n", KeyValue("score")).value));
  EXPECT_TRUE(std::isinf(*ReadMetric("score=inf\n", KeyValue("score")).value));
}

TEST(ReadMetric, QuotedNanInsideAStringIsLeftAlone) {
  MetricReading reading = ReadMetric("{\"note\": \"NaN seen\", \"score\": 2}", Json("score"));
  EXPECT_DOUBLE_EQ(*reading.value, 2.0);
}

TEST(ReadMetric, ReadsKeyValueLinesAsTrainingScriptsPrintThem) {
  std::string output =
      "step 100 | loss 2.3\nval_bpb:          0.9979\ntraining_seconds: 300.1\n";
  EXPECT_DOUBLE_EQ(*ReadMetric(output, KeyValue("val_bpb")).value, 0.9979);
  EXPECT_DOUBLE_EQ(*ReadMetric("val_bpb=1.5\n", KeyValue("val_bpb")).value, 1.5);
}

TEST(ReadMetric, KeyValueNeedsTheExactNameFollowedByASeparator) {
  EXPECT_FALSE(ReadMetric("val_bpb_ema: 1.0\n", KeyValue("val_bpb")).value);
  EXPECT_FALSE(ReadMetric("my val_bpb: 1.0\n", KeyValue("val_bpb")).value);
}

}  // namespace
}  // namespace ratchet
