#include "spawner/broker_wire.hpp"

#include <cstring>
#include <limits>
#include <type_traits>

namespace cgihost::spawner::wire {
namespace {

// Type bytes: requests, then replies.
constexpr char kLaunch = 'L', kSignal = 'S', kToken = 'T', kReopen = 'O', kStarted = 'C',
               kFailed = 'F', kSignalled = 'A', kGranted = 'G', kReopened = 'N', kReload = 'H',
               kReloaded = 'D';

struct writer {
  std::string buf;
  explicit writer(char type) { buf += type; }
  void u64(std::uint64_t v) { buf.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void flag(bool v) { u64(v ? 1 : 0); }
  void str(const std::string& s) {
    u64(s.size());
    buf += s;
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  void limit(const std::optional<std::uint64_t>& v) {
    flag(v.has_value());
    u64(v.value_or(0));
  }
  void u64s(const std::vector<std::uint64_t>& v) {
    u64(v.size());
    for (auto x : v) u64(x);
  }
};

// Reads a message of `type`: `ok` turns false at the first thing missing
// (and stays so); done() is true when everything was there and nothing more.
struct reader {
  std::string_view in;
  bool ok;
  reader(std::string_view message, char type)
      : in(message), ok(!message.empty() && message.size() <= kMaxMessage && message[0] == type) {
    if (ok) in.remove_prefix(1);
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    if (!ok || in.size() < sizeof v) return ok = false, 0;
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  bool flag() {
    auto v = u64();
    if (v > 1) ok = false;
    return v == 1;
  }
  std::string str() {
    auto n = u64();
    if (!ok || n > in.size()) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  std::vector<std::string> strs() {
    auto n = u64();
    std::vector<std::string> v;
    if (!ok || n > kMaxItems) return ok = false, v;
    for (std::uint64_t i = 0; i < n && ok; ++i) v.push_back(str());
    return v;
  }
  std::vector<std::uint64_t> u64s() {
    auto n = u64();
    std::vector<std::uint64_t> v;
    if (!ok || n > kMaxItems) return ok = false, v;
    for (std::uint64_t i = 0; i < n && ok; ++i) v.push_back(u64());
    return v;
  }
  std::optional<std::uint64_t> limit() {
    bool set = flag();
    auto v = u64();
    return set ? std::optional<std::uint64_t>(v) : std::nullopt;
  }
  bool done() const { return ok && in.empty(); }
};

std::string encode_launch(const launch_request& r) {
  writer w(kLaunch);
  w.str(r.spec.program);
  w.strs(r.spec.argv);
  w.strs(r.spec.env);
  w.str(r.spec.working_dir);
  w.str(r.account);
  w.limit(r.spec.limits.address_space);
  w.limit(r.spec.limits.cpu_seconds);
  w.limit(r.spec.limits.open_files);
  w.limit(r.spec.limits.processes);
  w.flag(r.spec.new_process_group);
  w.flag(r.spec.die_with_parent);
  w.flag(r.has_stdin);
  w.flag(r.spec.no_input);
  w.u64(r.stdin_handle);
  w.u64s(r.inherit);
  w.u64(r.token);
  return std::move(w.buf);
}

std::optional<request> decode_launch(std::string_view message) {
  reader r(message, kLaunch);
  launch_request out;
  out.spec.program = r.str();
  out.spec.argv = r.strs();
  out.spec.env = r.strs();
  out.spec.working_dir = r.str();
  out.account = r.str();
  out.spec.limits.address_space = r.limit();
  out.spec.limits.cpu_seconds = r.limit();
  out.spec.limits.open_files = r.limit();
  out.spec.limits.processes = r.limit();
  out.spec.new_process_group = r.flag();
  out.spec.die_with_parent = r.flag();
  out.has_stdin = r.flag();
  out.spec.no_input = r.flag();
  out.stdin_handle = r.u64();
  out.inherit = r.u64s();
  out.token = r.u64();
  if (!r.done()) return std::nullopt;
  return out;
}

std::optional<request> decode_signal(std::string_view message) {
  reader r(message, kSignal);
  signal_request out;
  out.pid = static_cast<process_id>(r.u64());
  out.serial = r.u64();
  out.sig = static_cast<int>(r.u64());
  if (!r.done()) return std::nullopt;
  return out;
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// An absolute path of this platform: "/..."; Windows "X:\\..." or "X:/...".
bool absolute(const std::string& path) {
#if defined(_WIN32)
  return path.size() >= 3 && path[1] == ':' && (path[2] == '\\' || path[2] == '/');
#else
  return path.starts_with('/');
#endif
}

}  // namespace

launch_request make_launch_request(const launch_spec& spec) {
  launch_request r;
  r.spec = spec;
  r.spec.as.reset();
  r.spec.stdin_fd = no_handle;
  r.account = spec.as ? spec.as->name : std::string();
  r.has_stdin = spec.stdin_fd != no_handle;
#if defined(_WIN32)
  auto value = [](const void* h) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
  };
  if (r.has_stdin) r.stdin_handle = value(spec.stdin_fd);
  for (native_handle h : spec.inherit) r.inherit.push_back(value(h));
  if (spec.as && spec.as->token) r.token = value(spec.as->token.get());
  r.spec.inherit.clear();
#endif
  return r;
}

std::string encode(const request& r) {
  if (const auto* l = std::get_if<launch_request>(&r)) return encode_launch(*l);
  if (std::holds_alternative<reopen_request>(r)) return std::string(1, kReopen);
  const auto& s = std::get<signal_request>(r);
  writer w(kSignal);
  w.u64(static_cast<std::uint64_t>(s.pid));
  w.u64(s.serial);
  w.u64(static_cast<std::uint64_t>(s.sig));
  return std::move(w.buf);
}

std::string encode(const launch_reply& r) {
  if (const auto* s = std::get_if<launch_started>(&r)) {
    writer w(kStarted);
    w.u64(static_cast<std::uint64_t>(s->pid));
    w.u64(s->serial);
    w.flag(s->has_stdin);
    for (auto h :
         {s->stdin_handle, s->stdout_handle, s->stderr_handle, s->process_handle, s->job_handle})
      w.u64(h);
    return std::move(w.buf);
  }
  const auto& f = std::get<launch_failed>(r);
  writer w(kFailed);
  w.u64(static_cast<std::uint64_t>(f.step));
  w.u64(static_cast<std::uint64_t>(f.error));
  w.str(f.detail);
  return std::move(w.buf);
}

std::string encode_signal_reply(bool sent) {
  writer w(kSignalled);
  w.flag(sent);
  return std::move(w.buf);
}

std::optional<request> decode_request(std::string_view message) {
  if (!message.empty() && message[0] == kSignal) return decode_signal(message);
  if (!message.empty() && message[0] == kReopen) {
    if (!reader(message, kReopen).done()) return std::nullopt;
    return reopen_request{};
  }
  return decode_launch(message);
}

std::string encode_reopen_reply(const std::vector<reopened_log>& files) {
  writer w(kReopened);
  w.u64(files.size());
  for (const auto& f : files) {
    w.str(f.path);
    w.u64(static_cast<std::uint64_t>(f.error));
  }
  return std::move(w.buf);
}

std::optional<std::vector<reopened_log>> decode_reopen_reply(std::string_view message) {
  reader r(message, kReopened);
  std::vector<reopened_log> out;
  auto n = r.u64();
  if (n > kMaxItems) return std::nullopt;
  for (std::uint64_t i = 0; i < n && r.ok; ++i) {
    reopened_log f;
    f.path = r.str();
    auto error = r.u64();
    if (error > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    f.error = static_cast<int>(error);
    out.push_back(std::move(f));
  }
  if (!r.done()) return std::nullopt;
  return out;
}

std::string encode(const token_request& r) {
  writer w(kToken);
  w.str(r.account);
  return std::move(w.buf);
}

std::string encode(const token_reply& r) {
  if (const auto* g = std::get_if<token_granted>(&r)) {
    writer w(kGranted);
    w.u64(g->token_handle);
    return std::move(w.buf);
  }
  return encode(launch_reply{std::get<launch_failed>(r)});
}

std::optional<token_request> decode_token_request(std::string_view message) {
  reader r(message, kToken);
  token_request out;
  out.account = r.str();
  if (!r.done()) return std::nullopt;
  return out;
}

std::optional<token_reply> decode_token_reply(std::string_view message) {
  if (!message.empty() && message[0] == kGranted) {
    reader r(message, kGranted);
    token_granted g;
    g.token_handle = r.u64();
    if (!r.done() || g.token_handle == 0) return std::nullopt;
    return g;
  }
  auto failed = decode_launch_reply(message);
  if (!failed || !std::holds_alternative<launch_failed>(*failed)) return std::nullopt;
  return std::get<launch_failed>(*failed);
}

std::optional<launch_reply> decode_launch_reply(std::string_view message) {
  if (!message.empty() && message[0] == kStarted) {
    reader r(message, kStarted);
    launch_started s;
    s.pid = static_cast<process_id>(r.u64());
    s.serial = r.u64();
    s.has_stdin = r.flag();
    for (auto* h :
         {&s.stdin_handle, &s.stdout_handle, &s.stderr_handle, &s.process_handle, &s.job_handle})
      *h = r.u64();
    if (!r.done()) return std::nullopt;
    return s;
  }
  reader r(message, kFailed);
  launch_failed f;
  auto step = r.u64();
  f.error = static_cast<int>(r.u64());
  f.detail = r.str();
  if (!r.done() || step > static_cast<std::uint64_t>(launch_step::logon)) return std::nullopt;
  f.step = static_cast<launch_step>(step);
  return f;
}

std::string encode(const reload_request&) { return std::string(1, kReload); }

std::string encode(const reload_reply& r) {
  writer w(kReloaded);
  w.flag(r.ok);
  w.str(r.text);
  w.str(r.error);
  return std::move(w.buf);
}

std::optional<reload_request> decode_reload_request(std::string_view message) {
  reader r(message, kReload);
  if (!r.done()) return std::nullopt;
  return reload_request{};
}

std::optional<reload_reply> decode_reload_reply(std::string_view message) {
  reader r(message, kReloaded);
  reload_reply out;
  out.ok = r.flag();
  out.text = r.str();
  out.error = r.str();
  if (!r.done()) return std::nullopt;
  return out;
}

std::optional<bool> decode_signal_reply(std::string_view message) {
  reader r(message, kSignalled);
  bool sent = r.flag();
  if (!r.done()) return std::nullopt;
  return sent;
}

bool well_formed(const launch_spec& spec) {
  bool ok = !spec.argv.empty() && absolute(spec.program) && !has_nul(spec.program) &&
            !has_nul(spec.working_dir) && (spec.working_dir.empty() || absolute(spec.working_dir));
  for (const auto& a : spec.argv) ok = ok && !has_nul(a);
  for (const auto& e : spec.env)
    ok = ok && !has_nul(e) && e.find('=') != std::string::npos && e[0] != '=';
  return ok;
}

}  // namespace cgihost::spawner::wire
