#pragma once
// The bodies of cgihost's own error answers: the built-in short page, or the
// administrator's page for that status (`[errors]`, IIS httpErrors, nginx
// error_page), read once at start-up. What every exchange answers an error
// with, so `cgihost serve` and `cgihost try` show the same page.

#include <boost/beast/http/status.hpp>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace cgihost::host {

// `s` with < > & " as HTML entities.
std::string html_escape(std::string_view s);

// A short page naming the status; `phase` (a gateway's limit) under it for
// every client, and in dev mode the diagnosis `dev_detail`.
std::string error_page(boost::beast::http::status status, std::string_view dev_detail = {},
                       std::string_view phase = {});

// The Content-Type of an error page file, by its extension: text/html for
// .html and .htm, and a few text types; application/octet-stream otherwise.
std::string error_page_type(std::string_view path);

class error_pages {
 public:
  struct page {
    std::string content_type;
    std::string body;
  };
  static constexpr std::size_t kMaxSize = 1024 * 1024;

  error_pages() = default;
  // Reads the file of every `[errors]` entry of `cfg` (a URL path) beneath
  // cfg.document_root, as open_beneath does: never outside it. Call before
  // root is dropped. Throws std::runtime_error naming the status, the file and
  // the cause when one cannot be read, is not a regular file or is larger
  // than kMaxSize.
  static error_pages load(const config::config& cfg);

  // The administrator's page for `status`, or null.
  const page* find(unsigned status) const;

  // The body of an error answer with `status`, and its Content-Type: the
  // administrator's page when there is one, else error_page() (text/html).
  page render(boost::beast::http::status status, std::string_view dev_detail,
              std::string_view phase) const;

 private:
  std::map<unsigned, page> pages_;
};

}  // namespace cgihost::host
