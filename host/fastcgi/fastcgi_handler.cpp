#include "host/fastcgi/fastcgi_handler.hpp"

#include <boost/asio/this_coro.hpp>

#include "host/dispatch/checks.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/fastcgi/fcgi_exchange.hpp"
#include "host/fastcgi/lease.hpp"
#include "host/gateway/gateway.hpp"
#include "host/gateway/response_relay.hpp"
#include "host/gateway/verdict.hpp"
#include "protocol/fcgi.hpp"
#include "spawner/identity.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::host {
namespace {

namespace fcgi = protocol::fcgi;
using clock = std::chrono::steady_clock;

long long ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count();
}

// A pool's refusal to lend an instance (queue wait, spawn, stopping) or to
// connect, as the client gets it: the page names the pool and the phase.
refusal pool_refusal(exchange& ex, const std::string& pool_name, http::status status,
                     const std::string& phase, const std::string& reason,
                     std::optional<std::chrono::seconds> retry_after) {
  refusal no;
  no.status = status;
  no.code = "fastcgi.pool." + phase;
  no.reason = reason;
  no.phase = "pool " + pool_name + ", phase " + phase;
  no.dev_detail = no.phase + ": " + reason;
  no.retry_after = retry_after;
  no.module_line = "[pool " + pool_name + "] rid=" + ex.id().str() + " " +
                   std::to_string(static_cast<unsigned>(status)) + " phase " + phase + ": " +
                   reason;
  no.module_level = spdlog::level::warn;
  return no;
}

// A connection to the instance that could not be made (counted): 504 past
// the deadline, else 503.
refusal connect_refusal(exchange& ex, fastcgi_pool& pool, const std::string& error,
                        bool timed_out) {
  const auto status = timed_out ? http::status::gateway_timeout : http::status::service_unavailable;
  pool.count_response(static_cast<unsigned>(status), timed_out);
  return pool_refusal(ex, pool.settings().name, status, "connect", "connect to " + error,
                      std::nullopt);
}

// For the access log: the request went to instance `pid` of `pool` (0: a
// remote pool's), which runs as the pool's account, now.
void note_run(exchange& ex, const fastcgi_pool& pool, spawner::process_id pid) {
  auto& notes = ex.state().run;
  notes.pool = pool.settings().name;
  notes.pid = pool.remote() ? 0 : static_cast<std::int64_t>(pid);
  notes.account = pool.remote()    ? std::string()
                  : pool.account() ? pool.account()->name
                                   : spawner::current_account().name;
  notes.slot_at = std::chrono::steady_clock::now();
}

// A kept connection the instance closed meanwhile (it exited, or dropped
// it), or a fresh one reset at once: nothing was answered, so another
// instance gets the request.
void log_retry(exchange& ex, const std::string& pool_name, const lease& l, const fcgi_end& end) {
  ex.log().warn(
      "[pool {}] rid={} instance pid {} {} before answering ({}); trying another instance",
      pool_name, ex.id().str(), l.instance().pid,
      l.reused() ? "closed its kept connection" : "dropped the request", end.failure);
}

// The FastCGI module's words for a verdict: "[pool NAME]" lines, the
// diagnosis with the instance and the times.
class fastcgi_voice final : public gateway_voice {
 public:
  fastcgi_voice(exchange& ex, const fastcgi_pool& pool, const lease& l, const fcgi_end& end,
                const response_relay& relay, clock::time_point started)
      : ex_(ex), pool_(pool), lease_(l), end_(end), relay_(relay), started_(started) {}

  refusal refusal_for(const verdict& v) override {
    const std::string& name = pool_.settings().name;
    const std::string head = "[pool " + name + "] rid=" + ex_.id().str() + " ";
    refusal no;
    no.status = v.status;
    if (v.why == verdict::cause::timed_out && !end_.inactive_phase.empty()) {
      const std::string& phase = end_.inactive_phase;
      const std::string what = "no output for activity_timeout (" +
                               std::to_string(pool_.settings().activity_timeout.count()) +
                               " ms) while " + phase + "; the instance was killed";
      no.code = "fastcgi.activity_timeout";
      no.reason = what;
      no.phase = "pool " + name + ", phase " + phase;
      no.dev_detail = diagnosis(what, "\n");
      no.module_line = head + "504 phase " + phase + ": " + diagnosis(what, "; ");
      no.module_level = spdlog::level::warn;
    } else if (v.why == verdict::cause::timed_out) {
      const std::string phase = relay_.headers_at() ? "body idle" : "response headers";
      const std::string what = "no END_REQUEST within request_timeout (" +
                               std::to_string(pool_.settings().request_timeout.count()) +
                               " ms); the instance was killed";
      no.code = "fastcgi.timeout";
      no.reason = what;
      no.phase = "pool " + name + ", phase " + phase;
      no.dev_detail = diagnosis(what, "\n");
      no.module_line = head + "504 phase " + phase + ": " + diagnosis(what, "; ");
      no.module_level = spdlog::level::warn;
    } else if (v.why == verdict::cause::stderr_written) {
      const std::string what =
          "the application wrote to STDERR before its response (stderr_mode = \"log_and_500\")";
      no.code = "fastcgi.stderr";
      no.reason = "pool " + name + ": " + what;
      no.dev_detail = diagnosis(what, "\n");
      no.module_line = head + "500 " + diagnosis(what, "; ");
      no.module_level = spdlog::level::warn;
    } else if (v.why == verdict::cause::rejected) {
      const std::string what = relay_.rejection_text();
      no.code = "fastcgi.rejected";
      no.reason = "the FastCGI application misbehaved";
      no.dev_detail = diagnosis(what, "\n");
      no.module_line = head + "502 " + diagnosis(what, "; ");
    } else {  // broken, body_short
      const std::string what =
          end_.failure.empty() ? "body shorter than its Content-Length" : end_.failure;
      no.code = v.why == verdict::cause::broken ? "fastcgi.broken" : "fastcgi.body_short";
      no.reason = "pool " + name + ": " + what;
      no.dev_detail = diagnosis(what, "\n");
      no.module_line = head + diagnosis(what, "; ");
    }
    return no;
  }

  void note(const verdict& v) override {
    if (v.why != verdict::cause::aborted) return;
    ex_.log().info("[pool {}] rid={} the client left after {} ms: ABORT_REQUEST sent; {}",
                   pool_.settings().name, ex_.id().str(), ms_since(started_),
                   end_.end_request ? "the instance ended the request"
                                    : "the instance did not end the request within " +
                                          std::to_string(pool_.settings().stop_grace.count()) +
                                          " ms (stop_grace) and was killed");
  }

 private:
  // For the log on one line (sep "; "), for the dev-mode page one fact a line.
  std::string diagnosis(const std::string& what, std::string_view sep) const {
    auto at = [&](std::optional<clock::time_point> t) {
      return t ? std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(*t - started_).count()) +
                     "ms"
               : std::string("-");
    };
    std::string d = what;
    d += std::string(sep) + "script: " + ex_.route().script_name;
    d += std::string(sep) + "instance: pid " + std::to_string(lease_.instance().pid) + " of pool " +
         pool_.settings().name;
    d += std::string(sep) + "times: first byte " + at(relay_.first_byte()) + ", headers " +
         at(relay_.headers_at());
    return d;
  }

  exchange& ex_;
  const fastcgi_pool& pool_;
  const lease& lease_;
  const fcgi_end& end_;
  const response_relay& relay_;
  clock::time_point started_;
};

}  // namespace

fastcgi_handler::fastcgi_handler(const config::config& cfg, const config::handler& h,
                                 std::shared_ptr<fastcgi_pool> pool,
                                 std::shared_ptr<pool_family> family)
    : cfg_(cfg),
      h_(h),
      single_(std::move(pool)),
      family_(std::move(family)),
      pass_through_(pass_through_environment()) {
  // A remote server runs as an account of its own, unknown here.
  if (single_ && !single_->remote() && !cfg.identity.process.name.empty())
    instance_account_ = spawner::resolve_identity(os_account(cfg.identity.process));
}

fastcgi_handler::~fastcgi_handler() = default;

checked<std::shared_ptr<fastcgi_pool>> fastcgi_handler::pool_for(const exchange& ex,
                                                                 const spawner::file_info& st) {
  if (!family_) {
    // impersonate = false: the instances run as the process identity, which
    // must be able to read the script (else the interpreter would answer a
    // vague 404 or 500); logging in would not change that: 403.
    std::string denied;
    spawner::access_denial denial{};
    if (instance_account_ && !spawner::may_access(*instance_account_, st, false, denied, denial)) {
      const std::string what = "script " + ex.route().script_name + ": " + denied +
                               " (fastcgi impersonate=false -> the process identity)";
      if (denial != spawner::access_denial::denied)
        return no_token_refusal(denial, "[pool " + single_->settings().name + "]", ex.id().str(),
                                what);
      refusal no;
      no.status = http::status::forbidden;
      no.code = "fastcgi.process_identity_denied";
      no.reason = what;
      no.module_line =
          "[pool " + single_->settings().name + "] rid=" + ex.id().str() + " 403 " + what;
      return no;
    }
    return single_;
  }
  // A pool per account: impersonate = true, an instance running as the
  // request's account; impersonate = false, as the process identity, which a
  // location may name (the decision table). Checked like a CGI spawn before
  // any instance is lent.
  const auto& name = family_->settings().name;
  auto choice = choose_identity(cfg_, config::module_kind::fastcgi, true,
                                family_->settings().impersonate, ex.authenticated_user(), true,
                                process_identity_of(cfg_, ex.route()), ex.token_identity());
  auto id =
      check_identity(cfg_, choice, st, false,
                     check_subject{"[pool " + name + "]", ex.id().str(), ex.route().script_name});
  if (!id) return std::move(id).error();
  auto pool = family_->for_account(*id);
  if (!pool) {
    refusal no;
    no.status = http::status::service_unavailable;
    no.code = "fastcgi.pool.stopping";
    no.reason = "the pool is stopping";
    no.phase = "pool " + name + ", phase stopping";
    no.dev_detail = "the pool is stopping";
    return no;
  }
  ex.log().debug("[pool {}] rid={} runs as {}: {}", name, ex.id().str(), id->describe(),
                 choice.why);
  return pool;
}

asio::awaitable<std::optional<refusal>> fastcgi_handler::prepare(exchange& ex, prepared& p) {
  auto script = find_script(ex.route(), cfg_, false);
  if (!script) co_return std::move(script).error();
  auto pool = pool_for(ex, script->st);
  if (!pool) co_return std::move(pool).error();
  p.pool = std::move(*pool);
  auto length = co_await body_length_or_spool(ex, p.spool);
  if (!length) co_return std::move(length).error();
  p.length = *length;
  auto vars = request_variables(ex, cfg_, script->path, p.length, ex.authenticated_user(), {});
  fcgi::append_begin_request(p.head_records, kFcgiRequestId, fcgi::role::responder,
                             fcgi::kKeepConn);
  fcgi::append_params(p.head_records, kFcgiRequestId, vars);
  p.may_retry = may_retry(http::string_to_verb(ex.request().method), p.length, p.spool.is_open());
  co_return std::nullopt;
}

asio::awaitable<void> fastcgi_handler::handle(exchange& ex) {
  const auto started = clock::now();
  prepared p;
  if (auto no = co_await prepare(ex, p)) {
    co_await answer(ex, *no);
    co_return;
  }
  fastcgi_pool& pool = *p.pool;
  const auto deadline = started + pool.settings().request_timeout;
  const std::string& pool_name = pool.settings().name;
  for (int attempt = 1;; ++attempt) {
    // lease: an instance, and a connection to it on this thread.
    std::optional<fastcgi_pool::refusal> why;
    auto inst = co_await pool.acquire(why, deadline);
    if (!inst) {
      pool.count_response(static_cast<unsigned>(why->status),
                          why->status == http::status::gateway_timeout);
      co_await answer(
          ex, pool_refusal(ex, pool_name, why->status, why->phase, why->reason, why->retry_after));
      co_return;
    }
    ex.set_identity(pool.remote() ? pool_name + "@" + pool.settings().remote->text
                                  : pool_name + ":" + std::to_string(inst->pid));
    note_run(ex, pool, inst->pid);
    lease l(pool, std::move(inst));
    l.show(ex.id(), ex.request().method, ex.request().target, started);
    std::optional<std::string> connect_error;
    if (!l.take_kept(co_await asio::this_coro::executor))
      connect_error = co_await l.connect(deadline);
    if (connect_error) {
      const bool timed_out = clock::now() >= deadline;
      if (attempt == 1 && p.may_retry && !timed_out) {
        ex.log().warn("[pool {}] rid={} connect to {}; trying again", pool_name, ex.id().str(),
                      *connect_error);
        continue;
      }
      co_await answer(ex, connect_refusal(ex, pool, *connect_error, timed_out));
      co_return;
    }

    // exchange
    fcgi_exchange run(ex, l, p.spool, p.length == 0, ex.route().script_name, pool_name, started);
    co_await run.run(p.head_records, deadline);
    const fcgi_end end = run.end();
    // Unless END_REQUEST already gave it back, keeping the connection.
    l.give_back(outcome_of(end));

    // classify
    exchange_facts facts{
        .how = end.how, .got_bytes = end.got_bytes, .may_retry = attempt == 1 && p.may_retry};
    relay_facts(run.relay(), ex, facts);
    const verdict v = classify(facts);
    if (v.what == verdict::kind::retry) {
      log_retry(ex, pool_name, l, end);
      continue;
    }

    // answer
    if (v.counted) pool.count_response(v.counted, v.counted_timeout);
    fastcgi_voice voice(ex, pool, l, end, run.relay(), started);
    if (!sends(v)) {
      settle(ex, v, voice);
    } else if (v.what == verdict::kind::finish_body) {
      error_code ec;  // the common end of a streamed response: no frame of carry_out's
      co_await ex.finish_body(ec);
    } else {
      co_await carry_out(ex, v, run.relay(), voice);
    }
    co_return;
  }
}

}  // namespace cgihost::host
