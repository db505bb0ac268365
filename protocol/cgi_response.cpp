#include "protocol/cgi_response.hpp"

#include <algorithm>
#include <cstdio>

#include "protocol/text.hpp"

namespace cgihost::protocol::cgi {
namespace {

class response_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cgihost.cgi"; }
  std::string message(int ev) const override {
    switch (static_cast<response_error>(ev)) {
      case response_error::no_output:
        return "the CGI program wrote nothing";
      case response_error::eof_before_headers:
        return "output ended before the end of the headers";
      case response_error::no_colon:
        return "header line without a colon";
      case response_error::space_before_colon:
        return "whitespace between header name and colon";
      case response_error::bad_name:
        return "invalid character in header name";
      case response_error::obs_fold:
        return "continuation line (obsolete line folding)";
      case response_error::bad_value:
        return "control character in header value";
      case response_error::bare_cr:
        return "carriage return not followed by line feed";
      case response_error::status_format:
        return "Status is not \"NNN\" or \"NNN reason\"";
      case response_error::status_range:
        return "Status code outside 100..599";
      case response_error::status_repeated:
        return "Status given twice";
      case response_error::no_content_type:
        return "document response without Content-Type";
      case response_error::head_too_large:
        return "header block larger than the limit";
      case response_error::too_many_lines:
        return "more header lines than the limit";
      case response_error::bad_location:
        return "Location is neither an absolute path nor an absolute URI";
      case response_error::location_repeated:
        return "Location given twice";
      case response_error::local_redirect_with_headers:
        return "local redirect with other header fields";
      case response_error::content_length_conflict:
        return "several different Content-Length values";
      case response_error::bad_content_length:
        return "Content-Length is not a number";
      case response_error::content_type_conflict:
        return "several different Content-Type values";
      case response_error::body_too_short:
        return "body shorter than its Content-Length";
      case response_error::status_interim:
        return "interim (1xx) Status: not a final response";
    }
    return "unknown CGI response error";
  }
};

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
bool is_absolute_uri(std::string_view v) {
  auto colon = v.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == v.size()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(v[0])) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    char c = v[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return v.find_first_of(" \t") == std::string_view::npos;
}

bool is_local_path(std::string_view v) {
  return !v.empty() && v[0] == '/' && (v.size() == 1 || v[1] != '/') &&
         v.find_first_of(" \t") == std::string_view::npos;
}

// RFC 3986 §4.1 relative-ref, for a Location that is neither of the above:
// only URI characters (percent escapes complete), and no colon in the first
// segment (it would read as a scheme).
bool is_relative_reference(std::string_view v) {
  if (v.empty()) return false;
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
  };
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    if (c == '%') {
      if (i + 2 >= v.size() || !hex(v[i + 1]) || !hex(v[i + 2])) return false;
      i += 2;
    } else if (!alnum &&
               std::string_view("-._~:/?#[]@!$&'()*+,;=").find(c) == std::string_view::npos) {
      return false;
    }
  }
  const auto colon = v.find(':');
  return colon == std::string_view::npos || colon > v.find_first_of("/?#");
}

constexpr std::string_view kHopByHop[] = {"connection", "keep-alive", "transfer-encoding",
                                          "upgrade",    "te",         "trailer"};

}  // namespace

const std::error_category& response_category() noexcept {
  static const response_category_impl instance;
  return instance;
}

std::string_view code_name(response_error e) noexcept {
  switch (e) {
    case response_error::no_output:
      return "cgi.no_output";
    case response_error::eof_before_headers:
      return "cgi.eof_before_headers";
    case response_error::no_colon:
      return "cgi.header.no_colon";
    case response_error::space_before_colon:
      return "cgi.header.space_before_colon";
    case response_error::bad_name:
      return "cgi.header.bad_name";
    case response_error::obs_fold:
      return "cgi.header.obs_fold";
    case response_error::bad_value:
      return "cgi.header.bad_value";
    case response_error::bare_cr:
      return "cgi.header.bare_cr";
    case response_error::status_format:
      return "cgi.status.format";
    case response_error::status_range:
      return "cgi.status.range";
    case response_error::status_repeated:
      return "cgi.status.repeated";
    case response_error::no_content_type:
      return "cgi.document.no_content_type";
    case response_error::head_too_large:
      return "cgi.head.too_large";
    case response_error::too_many_lines:
      return "cgi.head.too_many_lines";
    case response_error::bad_location:
      return "cgi.location.bad";
    case response_error::location_repeated:
      return "cgi.location.repeated";
    case response_error::local_redirect_with_headers:
      return "cgi.location.local_with_headers";
    case response_error::content_length_conflict:
      return "cgi.content_length.conflict";
    case response_error::bad_content_length:
      return "cgi.content_length.bad";
    case response_error::content_type_conflict:
      return "cgi.content_type.conflict";
    case response_error::body_too_short:
      return "cgi.body.short";
    case response_error::status_interim:
      return "cgi.status.interim";
  }
  return "cgi.unknown";
}

std::string escape_excerpt(std::string_view s, std::size_t max) {
  std::string out;
  for (unsigned char c : s) {
    char buf[5];
    std::string_view piece;
    switch (c) {
      case '\r':
        piece = "\\r";
        break;
      case '\n':
        piece = "\\n";
        break;
      case '\t':
        piece = "\\t";
        break;
      case '\\':
        piece = "\\\\";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          piece = std::string_view(buf, 4);
        } else {
          buf[0] = static_cast<char>(c);
          piece = std::string_view(buf, 1);
        }
    }
    if (out.size() + piece.size() > max) {
      out += "...";
      break;
    }
    out += piece;
  }
  return out;
}

std::size_t response_parser::feed(std::string_view in) {
  std::size_t used = 0;
  while (state_ == state::need_more && used < in.size()) {
    auto nl = in.find('\n', used);
    std::size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
    if (offset_ + (end - used) > limits_.max_head_bytes) {
      // Consume up to the limit so the offset says where it was crossed.
      std::size_t fits = static_cast<std::size_t>(limits_.max_head_bytes - offset_);
      pending_.append(in.substr(used, fits));
      used += fits;
      offset_ += fits;
      ++line_no_;
      fail(response_error::head_too_large, pending_, pending_start_);
      break;
    }
    pending_.append(in.substr(used, end - used));
    offset_ += end - used;
    used = end;
    if (nl == std::string_view::npos) break;
    std::string_view line = pending_;
    line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::uint64_t start = pending_start_;
    ++line_no_;
    line_done(line, start);
    pending_.clear();
    pending_start_ = offset_;
  }
  return used;
}

void response_parser::finish() {
  if (state_ != state::need_more) return;
  ++line_no_;
  fail(offset_ == 0 ? response_error::no_output : response_error::eof_before_headers, pending_,
       pending_start_);
}

void response_parser::fail(response_error e, std::string_view line, std::uint64_t line_offset) {
  state_ = state::failed;
  error_.code = e;
  error_.offset = line_offset;
  error_.line = line_no_;
  error_.excerpt = escape_excerpt(line);
}

void response_parser::line_done(std::string_view line, std::uint64_t off) {
  if (line.empty()) return end_of_head(off);
  if (++lines_ > limits_.max_lines) return fail(response_error::too_many_lines, line, off);
  if (line.find('\r') != std::string_view::npos) return fail(response_error::bare_cr, line, off);
  if (line[0] == ' ' || line[0] == '\t') return fail(response_error::obs_fold, line, off);
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return fail(response_error::no_colon, line, off);
  std::string_view name = line.substr(0, colon);
  if (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
    return fail(response_error::space_before_colon, line, off);
  if (name.empty() || !std::all_of(name.begin(), name.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
    return fail(response_error::bad_name, line, off);
  std::string_view value = trim(line.substr(colon + 1));
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(response_error::bad_value, line, off);

  if (iequals(name, "Status")) {
    if (saw_status_) return fail(response_error::status_repeated, line, off);
    saw_status_ = true;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (value.size() < 3 || !digit(value[0]) || !digit(value[1]) || !digit(value[2]) ||
        (value.size() > 3 && value[3] != ' ' && value[3] != '\t'))
      return fail(response_error::status_format, line, off);
    unsigned code =
        static_cast<unsigned>((value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0'));
    if (code < 100 || code > 599) return fail(response_error::status_range, line, off);
    if (code < 200) return fail(response_error::status_interim, line, off);
    head_.status = code;
    head_.reason = std::string(trim(value.substr(3)));
  } else if (iequals(name, "Location")) {
    if (!head_.location.empty()) return fail(response_error::location_repeated, line, off);
    if (!is_local_path(value) && !is_absolute_uri(value)) {
      // RFC 9110 §10.2.2: a relative reference, allowed only as the client
      // redirect of a 3xx or 201 Status, which may still come: decided at the
      // end of the head.
      if (!is_relative_reference(value)) return fail(response_error::bad_location, line, off);
      head_.location_relative = true;
      relative_line_ = std::string(line);
      relative_offset_ = off;
      relative_line_no_ = line_no_;
    }
    head_.location = std::string(value);
  } else if (iequals(name, "Content-Length")) {
    if (value.empty() || value.size() > 19 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail(response_error::bad_content_length, line, off);
    std::uint64_t n = 0;
    for (char c : value) n = n * 10 + static_cast<std::uint64_t>(c - '0');
    if (head_.content_length && *head_.content_length != n)
      return fail(response_error::content_length_conflict, line, off);
    head_.content_length = n;
  } else if (iequals(name, "Content-Type")) {
    if (!content_type_.empty()) {
      if (content_type_ != value) return fail(response_error::content_type_conflict, line, off);
      return;  // the same again: keep one
    }
    if (value.empty()) return fail(response_error::bad_value, line, off);
    content_type_ = std::string(value);
    head_.headers.emplace_back(std::string(name), content_type_);
  } else if (std::any_of(std::begin(kHopByHop), std::end(kHopByHop),
                         [&](auto h) { return iequals(name, h); })) {
    head_.dropped.emplace_back(name);
  } else {
    head_.headers.emplace_back(std::string(name), std::string(value));
  }
}

void response_parser::end_of_head(std::uint64_t off) {
  if (!head_.location.empty()) {
    const unsigned s = head_.status;
    if (head_.location_relative && !(saw_status_ && ((s >= 300 && s < 400) || s == 201))) {
      // RFC 3875 §6: without such a Status it is neither a local nor a client redirect.
      line_no_ = relative_line_no_;
      return fail(response_error::bad_location, relative_line_, relative_offset_);
    }
    if (head_.location[0] == '/' && !saw_status_) {
      // RFC 3875 §6.2.2: a local redirect is the Location field alone.
      if (!head_.headers.empty() || head_.content_length) {
        std::string first = head_.headers.empty() ? "Content-Length" : head_.headers.front().first;
        return fail(response_error::local_redirect_with_headers, first, off);
      }
      head_.kind = response_kind::local_redirect;
    } else {
      head_.kind = response_kind::client_redirect;
      if (!saw_status_) head_.status = 302;
      head_.headers.emplace_back("Location", head_.location);
    }
  } else {
    head_.kind = response_kind::document;
    unsigned s = head_.status;
    bool bodyless = s == 204 || s == 304;  // 1xx never gets here
    if (content_type_.empty() && !bodyless) return fail(response_error::no_content_type, "", off);
  }
  state_ = state::head;
}

std::size_t body_limiter::accept(std::size_t n) noexcept {
  if (!length_) {
    seen_ += n;
    return n;
  }
  std::uint64_t room = *length_ - seen_;
  std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(room, n));
  seen_ += take;
  cut_ += n - take;
  return take;
}

std::error_code body_limiter::finish() const noexcept {
  if (length_ && seen_ < *length_) return make_error_code(response_error::body_too_short);
  return {};
}

}  // namespace cgihost::protocol::cgi
