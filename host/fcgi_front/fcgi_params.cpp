#include "host/fcgi_front/fcgi_params.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

namespace fs = std::filesystem;

std::uint16_t port_of(const std::string& v) {
  unsigned n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  return r.ec == std::errc{} && r.ptr == v.data() + v.size() && n <= 65535
             ? static_cast<std::uint16_t>(n)
             : 0;
}

// HTTP_X_FORWARDED_FOR -> "X-Forwarded-For" (RFC 3875 §4.1.18 backwards).
std::string field_name(std::string_view var) {
  std::string out;
  out.reserve(var.size());
  bool start = true;
  for (char c : var) {
    if (c == '_') {
      out += '-';
      start = true;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    out += static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = false;
  }
  return out;
}

void add_field(fcgi_params& p, std::string name, const std::string& value) {
  p.field_bytes += name.size() + value.size();
  p.fields.emplace_back(std::move(name), value);
}

// The CGI variables a responder reads; every other param is ignored.
bool read_known(fcgi_params& p, const std::string& n, const std::string& v) {
  std::string* text = n == "REQUEST_METHOD"    ? &p.method
                      : n == "REQUEST_URI"     ? &p.target
                      : n == "REMOTE_ADDR"     ? &p.remote_addr
                      : n == "SERVER_ADDR"     ? &p.server_addr
                      : n == "SERVER_NAME"     ? &p.server_name
                      : n == "REMOTE_USER"     ? &p.remote_user
                      : n == "AUTH_TYPE"       ? &p.auth_type
                      : n == "PATH_INFO"       ? &p.path_info
                      : n == "SCRIPT_FILENAME" ? &p.script_filename
                      : n == "DOCUMENT_ROOT"   ? &p.document_root
                                               : nullptr;
  if (text) {
    *text = v;
    return true;
  }
  if (n == "SCRIPT_NAME") {
    p.script_name = v;
    p.has_script_name = !v.empty();
  } else if (n == "QUERY_STRING") {
    p.query_string = v;
    p.has_query_string = true;
  } else if (n == "SERVER_PROTOCOL") {
    p.version = v == "HTTP/1.0" ? 10 : 11;
  } else if (n == "REMOTE_PORT") {
    p.remote_port = port_of(v);
  } else if (n == "SERVER_PORT") {
    p.server_port = port_of(v);
  } else if (n == "HTTPS") {
    p.https = protocol::iequals(v, "on") || v == "1";
  } else {
    return false;
  }
  return true;
}

void read_length(fcgi_params& p, const std::string& v) {
  if (v.empty()) return;
  std::uint64_t n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
    p.bad_content_length = true;
  else
    p.content_length = n;
}

// Percent-encodes what normalize_target would read as syntax or an escape:
// SCRIPT_NAME and PATH_INFO are decoded already.
std::string encode_decoded(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '%')
      out += "%25";
    else if (c == '?')
      out += "%3F";
    else if (c == '#')
      out += "%23";
    else
      out += c;
  }
  return out;
}

bool beneath(const fs::path& p, const fs::path& root) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

// `p` as the file system resolves it (symlinks of its existing part followed).
fs::path resolved(const std::string& p) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::path(p), ec);
  return ec ? fs::path(p).lexically_normal() : out;
}

}  // namespace

fcgi_params read_params(const protocol::fcgi::name_values& params) {
  fcgi_params p;
  for (const auto& [n, v] : params) {
    if (read_known(p, n, v)) continue;
    if (n == "CONTENT_LENGTH") {
      read_length(p, v);
      if (!v.empty()) add_field(p, "Content-Length", v);
    } else if (n == "CONTENT_TYPE") {
      if (!v.empty()) add_field(p, "Content-Type", v);
    } else if (n.size() > 5 && n.starts_with("HTTP_")) {
      add_field(p, field_name(std::string_view(n).substr(5)), v);
    }
  }
  if (p.target.empty()) {
    p.target = encode_decoded(p.script_name + p.path_info);
    if (!p.query_string.empty()) p.target += "?" + p.query_string;
  }
  return p;
}

protocol::result<protocol::normalized_target> routing_target(const fcgi_params& p) {
  if (!p.has_script_name) {
    auto t = protocol::normalize_target(p.target);
    if (t && p.has_query_string) {
      t->query = p.query_string;
      t->has_query = !p.query_string.empty() || t->has_query;
    }
    return t;
  }
  std::string raw = encode_decoded(p.script_name + p.path_info);
  auto t = protocol::normalize_target(raw);
  if (!t) return t;
  if (p.has_query_string) {
    t->query = p.query_string;
    t->has_query = !p.query_string.empty();
  } else if (auto q = p.target.find('?'); q != std::string::npos) {
    t->query = p.target.substr(q + 1);
    t->has_query = true;
  }
  return t;
}

std::optional<std::string> outside_roots(const fcgi_params& p, const std::vector<fs::path>& roots) {
  for (auto [name, value] :
       {std::pair<const char*, const std::string*>{"SCRIPT_FILENAME", &p.script_filename},
        {"DOCUMENT_ROOT", &p.document_root}}) {
    if (value->empty()) continue;
    if (value->front() != '/') return std::string(name) + " \"" + *value + "\"";
    // As written first (no system call), then as the file system resolves
    // it: a web server's root may be a symlink to ours.
    auto inside = [&](const fs::path& where) {
      return std::any_of(roots.begin(), roots.end(),
                         [&](const fs::path& r) { return beneath(where, r); });
    };
    if (!inside(fs::path(*value).lexically_normal()) && !inside(resolved(*value)))
      return std::string(name) + " \"" + *value + "\"";
  }
  return std::nullopt;
}

}  // namespace cgihost::host
