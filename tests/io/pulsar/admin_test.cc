#include "io/pulsar/admin.h"

#include <gtest/gtest.h>

namespace tideline::pulsar {
namespace {

TEST(TopicNames, Forms) {
  auto full = parse_topic_name("persistent://tl/ns1/events");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->tenant, "tl");
  EXPECT_EQ(full->ns, "ns1");
  EXPECT_EQ(full->local, "events");
  EXPECT_EQ(full->rest_path(), "persistent/tl/ns1/events");
  EXPECT_EQ(full->partition(2), "persistent://tl/ns1/events-partition-2");
  auto short_name = parse_topic_name("events");
  ASSERT_TRUE(short_name);
  EXPECT_EQ(short_name->full(), "persistent://public/default/events");
  auto three = parse_topic_name("a/b/c");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->full(), "persistent://a/b/c");
  EXPECT_FALSE(parse_topic_name("persistent://a/b"));
  EXPECT_FALSE(parse_topic_name("a/b"));
  EXPECT_FALSE(parse_topic_name("kafka://a/b/c"));
  auto escaped = parse_topic_name("persistent://t/n/a b");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->rest_path(), "persistent/t/n/a%20b");
}

TEST(Admin, UnreachableServerNamesTheUrl) {
  AdminOptions o;
  o.web_service_url = "http://127.0.0.1:1";
  o.timeout = std::chrono::milliseconds(2000);
  AdminClient admin(o);
  Status st = admin.create_namespace("t", "n");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("PUT http://127.0.0.1:1/admin/v2/namespaces/t/n"), std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace tideline::pulsar
