// Session::add_input_dictionary_key: same results as plain string keys; bad codes refused.
#include <gtest/gtest.h>

#include "engine/query.h"

namespace tideline::engine {
namespace {

TypePtr schema() {
  return DataType::record({{"t", DataType::of(TypeId::kTimestamp)},
                           {"k", DataType::of(TypeId::kString)},
                           {"v", DataType::of(TypeId::kI64)}});
}

Batch plain() {
  Batch b = Batch::empty(schema());
  const char* keys[] = {"b", "a", "b", "c", "a"};
  for (int i = 0; i < 5; ++i) {
    b.columns[0].append_int(i * 10);
    if (i == 3)
      b.columns[1].append_null();
    else
      b.columns[1].append_string(keys[i]);
    b.columns[2].append_int(i + 1);
  }
  b.num_rows = 5;
  return b;
}

// The same rows with the key as codes into {"b", "a", "c"}.
std::pair<Batch, Column> encoded() {
  Batch b = plain();
  Column codes(DataType::of(TypeId::kU32));
  for (int64_t c : {0, 1, 0, -1, 1}) {
    if (c < 0)
      codes.append_null();
    else
      codes.append_int(c);
  }
  b.columns[1] = std::move(codes);
  Column values(DataType::of(TypeId::kString));
  for (const char* v : {"b", "a", "c"}) values.append_string(v);
  return {std::move(b), std::move(values)};
}

std::string run(const std::string& expr, ResultBehavior results, bool dict) {
  QueryOptions o;
  ResultOptions o_r;
  o_r.results = results;
  auto q = compile(expr, {{"T", schema(), "t", "k", "", ""}}, {}, o);
  EXPECT_TRUE(q.has_value()) << q.error().message();
  auto s = start_session(*q);
  EXPECT_TRUE(s.has_value());
  if (dict) {
    auto [b, values] = encoded();
    Status st = (*s)->add_input_dictionary_key("T", std::move(b), std::move(values));
    EXPECT_TRUE(st.ok()) << st.message();
  } else {
    EXPECT_TRUE((*s)->add_input("T", plain()).ok());
  }
  auto r = (*s)->finish(o_r);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  std::string out;
  for (int64_t i = 0; i < r->num_rows; ++i) {
    for (const auto& c : r->columns) out += value_to_string(value_at(c, i)) + ",";
    out += "\n";
  }
  return out;
}

TEST(DictionaryKey, SameResultsAsPlainKeys) {
  for (const char* e : {"{ s: sum(T.v) }", "{ s: sum(T.v), k: T.k }", "T"}) {
    for (auto rb : {ResultBehavior::kHistory, ResultBehavior::kFinal}) {
      std::string a = run(e, rb, false), b = run(e, rb, true);
      EXPECT_FALSE(a.empty());
      EXPECT_EQ(a, b) << e;
    }
  }
}

TEST(DictionaryKey, BadInputIsRefused) {
  auto q = compile("{ s: sum(T.v) }", {{"T", schema(), "t", "k", "", ""}}, {}, {});
  ASSERT_TRUE(q.has_value());
  {
    auto s = start_session(*q);
    auto [b, values] = encoded();
    b.columns[1].ints()[0] = 3;
    Status st = (*s)->add_input_dictionary_key("T", std::move(b), std::move(values));
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("code 3 outside the dictionary"), std::string::npos)
        << st.message();
  }
  {
    auto s = start_session(*q);
    ASSERT_TRUE((*s)->add_input("T", plain()).ok());
    auto [b, values] = encoded();
    EXPECT_FALSE((*s)->add_input_dictionary_key("T", std::move(b), std::move(values)).ok());
  }
  {
    auto s = start_session(*q);
    auto [b, values] = encoded();
    Column wrong(DataType::of(TypeId::kI64));
    wrong.append_int(1);
    EXPECT_FALSE((*s)->add_input_dictionary_key("T", std::move(b), std::move(wrong)).ok());
  }
}

}  // namespace
}  // namespace tideline::engine
