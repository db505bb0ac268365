#include "protocol/cgi_env.hpp"

#include <algorithm>
#include <map>

#include "protocol/text.hpp"

namespace cgihost::protocol::cgi {
namespace {

using protocol::iequals;

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^`|~").find(static_cast<char>(c)) !=
         std::string_view::npos;  // no '_'
}

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// The host part of a Host header, when it is a plausible host name or address.
std::optional<std::string_view> host_name(std::string_view host) {
  if (host.empty()) return std::nullopt;
  std::string_view name = host;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    name = host.substr(0, close + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '[' || c == ']' || c == ':';
    if (!ok) return std::nullopt;
  }
  return name.empty() ? std::nullopt : std::optional(name);
}

}  // namespace

variables build_env(const request_view& r, const env_options& options) {
  variables v;
  v.reserve(32 + r.headers.size());
  auto set = [&](std::string name, std::string_view value) {
    v.emplace_back(std::move(name), std::string(value));
  };

  for (const auto& [n, val] : options.pass_through) set(n, val);
  set("GATEWAY_INTERFACE", "CGI/1.1");
  set("SERVER_SOFTWARE", r.server_software);
  set("SERVER_PROTOCOL", r.version == 10 ? "HTTP/1.0" : "HTTP/1.1");
  std::string_view host_header;
  for (const auto& [n, val] : r.headers)
    if (iequals(n, "Host")) host_header = val;
  set("SERVER_NAME",
      !r.server_name.empty() ? r.server_name : host_name(host_header).value_or(r.local_address));
  set("SERVER_ADDR", r.local_address);
  set("SERVER_PORT", std::to_string(r.local_port));
  set("REQUEST_METHOD", r.method);
  set("REQUEST_URI", r.target);
  set("QUERY_STRING", r.query);
  set("SCRIPT_NAME", r.script_name);
  set("SCRIPT_FILENAME", r.script_filename);
  set("DOCUMENT_ROOT", r.document_root);
  // RFC 3875 §4.1.5-6: PATH_INFO and PATH_TRANSLATED only when there is a path.
  if (!r.path_info.empty()) {
    set("PATH_INFO", r.path_info);
    std::string translated(r.document_root);
    if (!translated.empty() && translated.back() == '/') translated.pop_back();
    translated += r.path_info;
    set("PATH_TRANSLATED", translated);
  }
  set("REMOTE_ADDR", r.peer_address);
  set("REMOTE_HOST", r.peer_address);
  set("REMOTE_PORT", std::to_string(r.peer_port));
  if (!r.remote_user.empty()) {
    set("AUTH_TYPE", r.auth_type);
    set("REMOTE_USER", r.remote_user);
    // The names PHP and Perl applications read behind IIS.
    set("AUTH_USER", r.remote_user);
    set("LOGON_USER", r.remote_user);
  }
  if (r.tls) set("HTTPS", "on");
  set("REQUEST_SCHEME", !r.scheme.empty() ? r.scheme : r.tls ? "https" : "http");
  // php-cgi with cgi.force_redirect (its default) refuses to run without it.
  set("REDIRECT_STATUS", "200");

  std::string_view content_type;
  for (const auto& [n, val] : r.headers)
    if (iequals(n, "Content-Type")) content_type = val;
  if (r.content_length) set("CONTENT_LENGTH", std::to_string(*r.content_length));
  if (!content_type.empty()) set("CONTENT_TYPE", content_type);

  // HTTP_* in the order the headers first appeared; same names joined.
  std::map<std::string, std::size_t> index;  // variable name -> position in v
  for (const auto& header : r.headers) {
    std::string_view n = header.first, val = header.second;
    if (n.empty() || !std::all_of(n.begin(), n.end(),
                                  [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
      continue;
    if (iequals(n, "Proxy") || iequals(n, "Content-Type") || iequals(n, "Content-Length")) continue;
    if (iequals(n, "Authorization") && !options.pass_authorization) continue;
    if (std::any_of(options.drop_headers.begin(), options.drop_headers.end(),
                    [&](const std::string& d) { return iequals(n, d); }))
      continue;
    std::string name = "HTTP_";
    for (char c : n) name.push_back(c == '-' ? '_' : upper(c));
    if (auto it = index.find(name); it != index.end()) {
      v[it->second].second += ", ";
      v[it->second].second += val;
    } else {
      index.emplace(name, v.size());
      v.emplace_back(std::move(name), std::string(val));
    }
  }
  for (const auto& extra : options.extra) {
    auto it =
        std::find_if(v.begin(), v.end(), [&](const auto& p) { return p.first == extra.first; });
    if (it != v.end())
      it->second = extra.second;
    else
      set(extra.first, extra.second);
  }
  return v;
}

std::optional<script_split> split_by_extension(std::string_view path, std::string_view ext) {
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    std::size_t seg_end = end == std::string_view::npos ? path.size() : end;
    std::string_view seg = path.substr(pos, seg_end - pos);
    if (seg.size() > ext.size() && iequals(seg.substr(seg.size() - ext.size()), ext))
      return script_split{std::string(path.substr(0, seg_end)), std::string(path.substr(seg_end))};
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

std::optional<script_split> split_by_prefix(std::string_view path, std::string_view prefix,
                                            bool ignore_case) {
  const std::string_view head = path.substr(0, prefix.size());
  if (ignore_case ? !iequals(head, prefix) : head != prefix) return std::nullopt;
  std::size_t end = path.find('/', prefix.size());
  if (end == std::string_view::npos) return script_split{std::string(path), {}};
  return script_split{std::string(path.substr(0, end)), std::string(path.substr(end))};
}

std::vector<std::string> to_envp(const variables& vars) {
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [n, val] : vars) out.push_back(n + "=" + val);
  return out;
}

}  // namespace cgihost::protocol::cgi
