// Basic credentials and base64 (RFC 7617, RFC 4648 §10 test vectors).

#include "protocol/basic_auth.hpp"

#include <gtest/gtest.h>

namespace cgihost::protocol {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> v[] = {{"", ""},
                                                   {"f", "Zg=="},
                                                   {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},
                                                   {"foob", "Zm9vYg=="},
                                                   {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : v) {
    EXPECT_EQ(base64_encode(plain), coded);
    auto back = base64_decode(coded);
    ASSERT_TRUE(back) << coded;
    EXPECT_EQ(*back, plain);
  }
}

TEST(Base64, RefusesWhatIsNotCanonicalBase64) {
  for (const char* bad :
       {"Zg", "Zg=", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!", "Zm 9v", "Zm9-", "Zg=a", "Zh==", "Zm9="})
    EXPECT_FALSE(base64_decode(bad)) << bad;
}

TEST(BasicAuthorization, ReadsUserAndPassword) {
  auto r = parse_basic_authorization("Basic " + base64_encode("alice:open sesame:yes"));
  ASSERT_TRUE(r.credentials);
  EXPECT_EQ(r.credentials->user, "alice");
  EXPECT_EQ(r.credentials->password, "open sesame:yes");  // only the first ':' splits
  auto lower = parse_basic_authorization("  bAsIc\t" + base64_encode(":") + "  ");
  ASSERT_TRUE(lower.credentials);
  EXPECT_EQ(lower.credentials->user, "");
  EXPECT_EQ(lower.credentials->password, "");
}

TEST(BasicAuthorization, SaysWhyThereAreNoCredentials) {
  EXPECT_EQ(parse_basic_authorization("Bearer abc").error, basic_error::not_basic);
  EXPECT_EQ(parse_basic_authorization("Basic").error, basic_error::not_basic);
  EXPECT_EQ(parse_basic_authorization("Basicx Zm9v").error, basic_error::not_basic);
  EXPECT_EQ(parse_basic_authorization("Basic Zm9v").error,
            basic_error::malformed);  // "foo": no ':'
  EXPECT_EQ(parse_basic_authorization("Basic !!!!").error, basic_error::malformed);
  EXPECT_FALSE(parse_basic_authorization("Basic Zm9v").credentials);
}

// RFC 7617 §2: no control characters; crypt(3) would stop at a NUL.
TEST(BasicAuthorization, RefusesControlCharacters) {
  using namespace std::string_literals;
  for (const auto& plain : {"alice:pw\0anything"s, "al\0ice:pw"s, "alice:pw\x01"s, "alice:\tpw"s,
                            "alice\n:pw"s, "alice:pw\x7f"s, "alice:pw\x1f"s}) {
    auto r = parse_basic_authorization("Basic " + base64_encode(plain));
    EXPECT_FALSE(r.credentials) << base64_encode(plain);
    EXPECT_EQ(r.error, basic_error::control_character) << base64_encode(plain);
  }
  // Bytes above 0x7f (UTF-8) are no control characters.
  auto utf8 = parse_basic_authorization("Basic " + base64_encode("j\xc3\xb6rg:p\xc3\xa4ss"));
  ASSERT_TRUE(utf8.credentials);
  EXPECT_EQ(utf8.credentials->user, "j\xc3\xb6rg");
}

}  // namespace
}  // namespace cgihost::protocol
