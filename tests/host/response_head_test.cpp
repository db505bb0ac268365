// The bytes cgihost writes of a response head and of its own error pages.
#include "host/http/response_head.hpp"

#include <gtest/gtest.h>

namespace cgihost::host {
namespace {

TEST(ResponseHead, SerializesStatusLineFieldsInOrderAndTheBlankLine) {
  http::response_header<> h;
  h.version(11);
  h.result(http::status::not_found);
  h.set(http::field::content_type, "text/plain");
  h.insert("X-Custom", "a");
  h.insert("X-Custom", "b");
  EXPECT_EQ(serialize_head(h),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-Custom: a\r\nX-Custom: "
            "b\r\n\r\n");
  h.version(10);
  h.reason("Gone Fishing");
  EXPECT_EQ(serialize_head(h).substr(0, 27), "HTTP/1.0 404 Gone Fishing\r\n");
}

TEST(ResponseHead, ConnectionFieldOnlyWhereTheDefaultDiffers) {
  struct row {
    unsigned version;
    bool keep_alive;
    const char* expected;  // "" : no Connection field
  };
  for (const row& r : {row{11, true, ""}, row{11, false, "close"}, row{10, true, "keep-alive"},
                       row{10, false, ""}}) {
    http::response_header<> h;
    h.version(r.version);
    h.set(http::field::connection, "upgrade");  // replaced, never kept
    set_connection(h, r.keep_alive);
    EXPECT_EQ(std::string(h[http::field::connection]), r.expected)
        << r.version << " " << r.keep_alive;
  }
}

TEST(ResponseHead, ErrorPageEscapesWhatItShows) {
  const std::string page = error_page(http::status::bad_gateway, "<script>&\"", "pool <php>");
  EXPECT_NE(page.find("<title>502 Bad Gateway</title>"), std::string::npos);
  EXPECT_NE(page.find("<p>pool &lt;php&gt;</p>"), std::string::npos);
  EXPECT_NE(page.find("<pre>&lt;script&gt;&amp;&quot;</pre>"), std::string::npos);
  EXPECT_EQ(error_page(http::status::not_found).find("dev mode"), std::string::npos);
}

TEST(ResponseHead, DateIsAnImfFixdate) {
  const std::string& d = current_http_date();
  ASSERT_EQ(d.size(), 29u) << d;
  EXPECT_EQ(d.substr(d.size() - 4), " GMT");
}

}  // namespace
}  // namespace cgihost::host
