#pragma once
// What the tests of a real web server in front of cgihost's FastCGI listener
// share (nginx, Apache): the sample site and the cgihost behind it, a sample
// config with its paths put in, a free port and the wait for the web server
// to accept on it, and the comparison with cgihost's own HTTP listener.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {

// The whole file, or "" when it cannot be read.
std::string read_file(const std::filesystem::path& p);
// Every `from` in `s` replaced by `to`.
void replace_all(std::string& s, const std::string& from, const std::string& to);
// A loopback TCP port that was free a moment ago.
std::uint16_t free_port();
// True when something accepts a connection on 127.0.0.1:port.
bool accepts(std::uint16_t port);
// True when something accepts on 127.0.0.1:port within `limit` (a web
// server started in the background).
bool accepts_within(std::uint16_t port, std::chrono::milliseconds limit);
// A response field's value ("" when absent); `name` lower-case.
std::string field(const http_response& r, const std::string& name);

// samples/site copied to `dir`/site, with site/private/env.pl, readable by
// the web server's workers; then a cgihost serving it: perl CGI, "alice"
// mapped to nobody, FastCGI on 127.0.0.1:0 and `dir`/fcgi.sock (group
// www-data), REMOTE_USER trusted.
std::unique_ptr<running_server> start_behind_web_server(const temp_dir& dir);

// The sample config `sample` (under samples/) with the site's root, `port`
// and the `htpasswd` file put in for the paths it is written with.
std::string sample_config(const std::string& sample, const temp_dir& dir, std::uint16_t port,
                          const std::string& written_htpasswd, const std::string& htpasswd);

// The sample site's answers through the web server on `via` are those of
// cgihost's own HTTP listener on `direct` (status, body, Content-Type,
// Location); what `context` returns is printed with a differing status.
void expect_same_answers(std::uint16_t direct, std::uint16_t via,
                         const std::function<std::string()>& context = {});

}  // namespace cgihost::test
