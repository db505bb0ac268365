#include "host/status/status_handler.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "host/dispatch/refusal.hpp"
#include "protocol/http_date.hpp"

namespace cgihost::host {
namespace {

const char* state_name(pool_core::state s) {
  switch (s) {
    case pool_core::state::idle:
      return "idle";
    case pool_core::state::busy:
      return "busy";
    case pool_core::state::draining:
      return "draining";
  }
  return "?";
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const protocol::utc_fields u = protocol::utc_of(
      static_cast<protocol::unix_seconds>(std::chrono::system_clock::to_time_t(t)));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02uZ", static_cast<long long>(u.year),
                u.month, u.day, u.hour, u.minute, u.second);
  return buf;
}

// A JSON string, quoted; also fine for a Prometheus label value (same escapes
// for backslash, quote and newline).
std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned char>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::uint64_t restarts(const fastcgi_pool::snapshot& s) {
  return s.core.crashes + s.core.recycled + s.core.killed;
}

// A request's fields onto a JSON object `o` (no braces): with `account` and
// `phase` for a running one (an empty account, a remote server's, is left out).
void request_fields(std::string& o, const request_board::row& r, bool running) {
  o += "\"rid\":" + json_quote(r.rid);
  if (running && !r.account.empty()) o += ",\"account\":" + json_quote(r.account);
  o += ",\"method\":" + json_quote(r.method) + ",\"uri\":" + json_quote(r.uri) +
       ",\"elapsed_ms\":" + std::to_string(r.elapsed_ms);
  if (running) o += ",\"phase\":" + json_quote(phase_name(r.phase));
}

}  // namespace

status_query parse_status_query(std::string_view query) {
  status_query q;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    const auto eq = part.find('=');
    const std::string_view key = part.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (key == "format") {
      q.prometheus = value == "prometheus";
    } else if (key == "full") {
      q.full = value != "0" && value != "false" && value != "no" && value != "off";
    }
  }
  return q;
}

status_handler::status_handler(const config::config& cfg,
                               std::vector<std::shared_ptr<fastcgi_pool>> pools,
                               std::vector<std::shared_ptr<pool_family>> families,
                               std::shared_ptr<const server_facts> facts,
                               std::shared_ptr<const cgi_board> cgi)
    : cfg_(cfg),
      pools_(std::move(pools)),
      families_(std::move(families)),
      facts_(facts ? std::move(facts) : std::make_shared<server_facts>()),
      cgi_(std::move(cgi)) {}

std::vector<std::shared_ptr<fastcgi_pool>> status_handler::all_pools() const {
  auto all = pools_;
  for (const auto& f : families_)
    for (auto& p : f->pools()) all.push_back(p);
  return all;
}

std::string status_handler::json(bool full) const {
  auto now = std::chrono::system_clock::now();
  const auto started = facts_->started;
  std::string last_error;
  {
    std::lock_guard lock(facts_->mu);
    last_error = facts_->last_reload_error;
  }
  std::string o =
      "{\"version\":" + json_quote(CGIHOST_VERSION) +
      ",\"started_at\":" + json_quote(rfc3339(started)) + ",\"uptime_seconds\":" +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - started).count()) +
      ",\"generation\":" + std::to_string(facts_->generation.load()) +
      ",\"reloads\":" + std::to_string(facts_->reloads.load()) +
      ",\"reload_failures\":" + std::to_string(facts_->reload_failures.load()) +
      ",\"last_reload\":" + json_quote(last_error.empty() ? "ok" : "failed: " + last_error) +
      ",\"pools\":[";
  bool first_pool = true;
  for (const auto& p : all_pools()) {
    if (!std::exchange(first_pool, false)) o += ",";
    pool_json(o, *p, full);
  }
  o += "],";
  cgi_json(o, full);
  return o + "}\n";
}

void status_handler::pool_json(std::string& o, fastcgi_pool& p, bool full) const {
  auto s = p.status();
  const auto& set = p.settings();
  // The requests of busy instances, by instance number (?full only).
  std::vector<request_board::row> requests;
  if (full) requests = p.board().rows();
  o += "{\"name\":" + json_quote(s.name);
  if (set.remote) {
    o += ",\"address\":" + json_quote(set.remote->text) +
         ",\"max_connections\":" + std::to_string(set.max_connections);
  } else {
    o += ",\"command\":" + json_quote(set.command.empty() ? "" : set.command[0]) +
         ",\"identity\":" + json_quote(s.identity) +
         (set.children ? ",\"children\":" + std::to_string(set.children)
                       : ",\"max_instances\":" + std::to_string(set.max_instances)) +
         ",\"max_requests\":" + std::to_string(set.max_requests);
  }
  o += ",\"queue_length\":" + std::to_string(s.queued) +
       ",\"queue_limit\":" + std::to_string(set.queue_length);
  o += ",\"instances\":[";
  bool first = true;
  for (const auto& i : s.instances) {
    if (!std::exchange(first, false)) o += ",";
    o += "{\"number\":" + std::to_string(i.number);
    if (i.pid > 0)
      o += ",\"pid\":" + std::to_string(i.pid) + ",\"identity\":" + json_quote(s.identity);
    o += ",\"state\":" + json_quote(state_name(i.st)) +
         ",\"requests\":" + std::to_string(i.served) +
         ",\"started_at\":" + json_quote(rfc3339(i.started_at));
    if (i.st == pool_core::state::busy) {
      auto r = std::find_if(requests.begin(), requests.end(),
                            [&](const request_board::row& x) { return x.slot == i.number; });
      if (r != requests.end()) {
        o += ",\"request\":{";
        request_fields(o, *r, true);
        o += "}";
      }
    }
    o += "}";
  }
  o += "],\"totals\":{\"accepted\":" + std::to_string(s.accepted) +
       ",\"responses_5xx\":" + std::to_string(s.errors_5xx) +
       ",\"timeouts\":" + std::to_string(s.timeouts) +
       ",\"restarts\":" + std::to_string(restarts(s)) +
       ",\"started\":" + std::to_string(s.core.started) +
       ",\"start_failures\":" + std::to_string(s.core.start_failures) +
       ",\"crashes\":" + std::to_string(s.core.crashes) +
       ",\"recycled\":" + std::to_string(s.core.recycled) +
       ",\"killed\":" + std::to_string(s.core.killed) +
       ",\"queue_full\":" + std::to_string(s.core.queue_full) +
       ",\"queue_timeouts\":" + std::to_string(s.core.queue_timeouts) + "}}";
}

void status_handler::cgi_json(std::string& o, bool full) const {
  std::vector<request_board::row> running, waiting;
  if (full && cgi_) {
    running = cgi_->running.rows();
    waiting = cgi_->waiting.rows();
  }
  const std::size_t n_running = full ? running.size() : cgi_ ? cgi_->running.size() : 0;
  const std::size_t n_waiting = full ? waiting.size() : cgi_ ? cgi_->waiting.size() : 0;
  o += "\"cgi\":{\"max_children\":" + std::to_string(cfg_.cgi.max_children) +
       ",\"running\":" + std::to_string(n_running) + ",\"waiting\":" + std::to_string(n_waiting);
  if (full) {
    auto list = [&](const char* name, const std::vector<request_board::row>& rows, bool child) {
      o += std::string(",\"") + name + "\":[";
      bool first = true;
      for (const auto& r : rows) {
        if (!std::exchange(first, false)) o += ",";
        o += "{";
        if (child) o += "\"pid\":" + std::to_string(r.pid) + ",";
        request_fields(o, r, child);
        o += "}";
      }
      o += "]";
    };
    list("children", running, true);
    list("waiting_requests", waiting, false);
  }
  o += "}";
}

std::string status_handler::prometheus() const {
  std::vector<fastcgi_pool::snapshot> snaps;
  for (const auto& p : all_pools()) snaps.push_back(p->status());
  std::string o;
  auto family = [&](const char* name, const char* type, const char* help, auto&& each) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& s : snaps) {
      std::string head =
          name;  // appended, not "+": g++ 12 warns falsely (-Warray-bounds) on the sum
      head += "{pool=";
      head += json_quote(s.name);
      // The account too: an impersonating pool has one set of instances per account.
      head += ",identity=";
      head += json_quote(s.identity);
      each(s, head);
    }
  };
  family("cgihost_pool_instances", "gauge", "Instances (connections for a remote pool) by state.",
         [&](const fastcgi_pool::snapshot& s, const std::string& head) {
           for (auto st :
                {pool_core::state::idle, pool_core::state::busy, pool_core::state::draining}) {
             std::size_t n = 0;
             for (const auto& i : s.instances) n += i.st == st;
             o += head + ",state=" + json_quote(state_name(st)) + "} " + std::to_string(n) + "\n";
           }
         });
  auto counter = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help, [&](const fastcgi_pool::snapshot& s, const std::string& head) {
      o += head + "} " + std::to_string(value(s)) + "\n";
    });
  };
  counter("cgihost_pool_queue_length", "gauge", "Requests waiting for an instance.",
          [](const auto& s) { return static_cast<std::uint64_t>(s.queued); });
  counter("cgihost_pool_requests_total", "counter", "Requests that reached the pool.",
          [](const auto& s) { return s.accepted; });
  counter("cgihost_pool_responses_5xx_total", "counter", "Requests answered with a 5xx status.",
          [](const auto& s) { return s.errors_5xx; });
  counter("cgihost_pool_timeouts_total", "counter", "Requests that ran past request_timeout.",
          [](const auto& s) { return s.timeouts; });
  counter("cgihost_pool_restarts_total", "counter",
          "Instances replaced: crashed, recycled or killed.",
          [](const auto& s) { return restarts(s); });
  counter("cgihost_pool_start_failures_total", "counter", "Instances that could not be started.",
          [](const auto& s) { return s.core.start_failures; });
  counter("cgihost_pool_queue_full_total", "counter",
          "Requests refused because the queue was full.",
          [](const auto& s) { return s.core.queue_full; });
  family("cgihost_pool_instance_requests", "gauge", "Requests served by each running instance.",
         [&](const fastcgi_pool::snapshot& s, const std::string& head) {
           for (const auto& i : s.instances)
             o += head + ",instance=\"" + std::to_string(i.number) + "\",pid=\"" +
                  std::to_string(i.pid) + "\"} " + std::to_string(i.served) + "\n";
         });
  auto server_metric = [&](const char* name, const char* type, const char* help,
                           std::uint64_t value) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + std::to_string(value) + "\n";
  };
  server_metric("cgihost_config_generation", "gauge",
                "The config in use: 1 at start, one more per successful reload.",
                facts_->generation.load());
  server_metric("cgihost_reloads_total", "counter", "Successful config reloads.",
                facts_->reloads.load());
  server_metric("cgihost_reload_failures_total", "counter",
                "Reloads refused (the config did not load, or a listener could not be bound).",
                facts_->reload_failures.load());
  server_metric("cgihost_cgi_max_children", "gauge",
                "CGI children allowed at once ([cgi] max_children); 0: no limit.",
                cfg_.cgi.max_children);
  server_metric("cgihost_cgi_running", "gauge", "CGI children running now.",
                cgi_ ? cgi_->running.size() : 0);
  server_metric("cgihost_cgi_waiting", "gauge", "Requests waiting for room under max_children.",
                cgi_ ? cgi_->waiting.size() : 0);
  return o;
}

asio::awaitable<void> status_handler::handle(exchange& ex) {
  if (cfg_.status.ping_path && ex.target().path == *cfg_.status.ping_path) {
    co_await ping(ex);
    co_return;
  }
  // The client's address: behind a trusted proxy on loopback, not the proxy's.
  const std::string& who = ex.client().address.empty() ? ex.peer_address() : ex.client().address;
  if (!config::address_in(who, cfg_.status.allow)) {
    co_await answer(ex, make_refusal(http::status::forbidden, "status.address",
                                     "status page refused to " + who + ", not in [status] allow"));
    co_return;
  }
  if (!ex.request().is("GET") && !ex.request().is_head()) {
    co_await answer(ex, make_refusal(http::status::method_not_allowed, "status.method",
                                     "the status page answers GET and HEAD"));
    co_return;
  }
  const status_query q = parse_status_query(ex.target().query);
  const bool prom = q.prometheus;
  std::string body = prom ? prometheus() : json(q.full);
  http::response_header<> head;
  head.result(http::status::ok);
  head.set(http::field::content_type,
           prom ? "text/plain; version=0.0.4; charset=utf-8" : "application/json");
  head.set(http::field::cache_control, "no-store");
  head.set(http::field::content_length, std::to_string(body.size()));
  error_code ec;
  co_await ex.write_response(head, asio::buffer(ex.request().is_head() ? std::string_view{} : body),
                             ec);
}

// The load balancer's health check: anyone may ask; it says only that
// cgihost answers.
asio::awaitable<void> status_handler::ping(exchange& ex) {
  if (!ex.request().is("GET") && !ex.request().is_head()) {
    co_await answer(ex, make_refusal(http::status::method_not_allowed, "status.method",
                                     "the ping path answers GET and HEAD"));
    co_return;
  }
  const std::string body = cfg_.status.ping_response + "\n";
  http::response_header<> head;
  head.result(http::status::ok);
  head.set(http::field::content_type, "text/plain; charset=utf-8");
  head.set(http::field::cache_control, "no-store");
  head.set(http::field::content_length, std::to_string(body.size()));
  error_code ec;
  co_await ex.write_response(head, asio::buffer(ex.request().is_head() ? std::string_view{} : body),
                             ec);
}

}  // namespace cgihost::host
