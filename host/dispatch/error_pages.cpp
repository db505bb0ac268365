#include "host/dispatch/error_pages.hpp"

#include <boost/beast/http/status.hpp>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "protocol/text.hpp"
#include "spawner/files.hpp"

namespace cgihost::host {

namespace http = boost::beast::http;

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string error_page(http::status status, std::string_view dev_detail, std::string_view phase) {
  std::string title = std::to_string(static_cast<unsigned>(status)) + " " +
                      std::string(http::obsolete_reason(status));
  std::string page = "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head><body><h1>" +
                     title + "</h1>";
  if (!phase.empty()) page += "\n<p>" + html_escape(phase) + "</p>";
  if (!dev_detail.empty())
    page += "\n<p>cgihost dev mode: why</p>\n<pre>" + html_escape(dev_detail) + "</pre>\n";
  return page + "</body></html>\n";
}

std::string error_page_type(std::string_view path) {
  const auto dot = path.rfind('.');
  const auto slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return "application/octet-stream";
  const std::string_view ext = path.substr(dot);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".txt", "text/plain; charset=utf-8"}, {".json", "application/json"},
      {".xml", "application/xml"},           {".xhtml", "application/xhtml+xml"},
  };
  for (const auto& [e, type] : kTypes)
    if (protocol::iequals(ext, e)) return std::string(type);
  return "application/octet-stream";
}

namespace {

[[noreturn]] void unreadable(unsigned status, const std::string& file, const std::string& why) {
  throw std::runtime_error("[errors] " + std::to_string(status) + " = \"" + file +
                           "\" cannot be read: " + why);
}

std::string read_page(spawner::native_handle root, unsigned status, const std::string& url_path) {
  std::string relative = url_path;
  while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
  spawner::unique_fd fd(spawner::open_beneath(root, relative.c_str(), spawner::open_for::read));
  if (fd.get() == spawner::no_handle)
    unreadable(status, url_path, std::generic_category().message(errno));
  std::error_code ec;
  auto info = spawner::info_of(fd.get(), ec);
  if (!info) unreadable(status, url_path, ec.message());
  if (!info->is_regular()) unreadable(status, url_path, "not a regular file");
  if (info->size > error_pages::kMaxSize)
    unreadable(
        status, url_path,
        std::to_string(info->size) + " bytes, more than " + std::to_string(error_pages::kMaxSize));
  std::string body(static_cast<std::size_t>(info->size), '\0');
  std::size_t got = 0;
  while (got < body.size()) {
    const std::size_t n = spawner::read_at(fd.get(), got, body.data() + got, body.size() - got, ec);
    if (ec) unreadable(status, url_path, ec.message());
    if (n == 0) break;
    got += n;
  }
  body.resize(got);
  return body;
}

}  // namespace

error_pages error_pages::load(const config::config& cfg) {
  error_pages out;
  if (cfg.error_pages.empty()) return out;
  spawner::unique_fd root(spawner::open_folder(cfg.document_root));
  if (root.get() == spawner::no_handle)
    throw std::runtime_error("[errors]: document_root " + cfg.document_root.string() +
                             " cannot be opened: " + std::generic_category().message(errno));
  for (const auto& [status, url_path] : cfg.error_pages)
    out.pages_[status] = page{error_page_type(url_path), read_page(root.get(), status, url_path)};
  return out;
}

const error_pages::page* error_pages::find(unsigned status) const {
  auto it = pages_.find(status);
  return it == pages_.end() ? nullptr : &it->second;
}

error_pages::page error_pages::render(http::status status, std::string_view dev_detail,
                                      std::string_view phase) const {
  if (const page* p = find(static_cast<unsigned>(status))) return *p;
  return page{"text/html; charset=utf-8", error_page(status, dev_detail, phase)};
}

}  // namespace cgihost::host
