#include "host/cgi/cgi_handler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <variant>

#include "host/cgi/after_response.hpp"
#include "host/dispatch/checks.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/gateway/gateway.hpp"
#include "host/gateway/response_relay.hpp"
#include "host/gateway/stderr_lines.hpp"
#include "host/gateway/verdict.hpp"
#include "protocol/cgi_env.hpp"
#include "protocol/cgi_response.hpp"
#include "spawner/child.hpp"
#include "spawner/files.hpp"
#include "spawner/launch.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::host {
namespace {

using namespace asio::experimental::awaitable_operators;
namespace cgi = protocol::cgi;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;

constexpr std::size_t kBuffer = kGatewayBuffer;
constexpr auto kStderrGrace = std::chrono::seconds(1);  // after exit, for the last stderr bytes
constexpr auto kRejectedGrace = std::chrono::milliseconds(500);  // a rejected child's own exit
// After the end of stdout, how long its exit status is awaited before the
// child is left to run on: a child killed by a signal reports its exit with
// the end of its output, so a cut body is told from a complete one.
constexpr auto kExitMoment = std::chrono::milliseconds(50);
constexpr std::size_t kStderrLines = 200;  // logged per request, then counted
constexpr std::size_t kStderrTail = 5;     // kept for the 502 diagnosis

// The request as the CGI board shows it: the child `pid` (-1: none yet) as
// the account prepare() chose.
request_facts facts_of(exchange& ex, spawner::process_id pid, clock::time_point since) {
  return request_facts{.rid = ex.id(),
                       .method = ex.request().method,
                       .uri = ex.request().target,
                       .account = ex.state().run.account,
                       .pid = pid,
                       .slot = 0,
                       .since = since};
}

double ms(clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string fmt_ms(std::optional<clock::time_point> t, clock::time_point start) {
  if (!t) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fms", ms(*t - start));
  return buf;
}

// One CGI request in flight: the child, its three pipes and what they said.
class cgi_run final : public gateway_voice {
 public:
  // `slot`: a place under [cgi] max_children, given back once the child is
  // reaped. `settings`: [cgi] (stop_grace, stderr_mode). `after`: where a child that goes on after
  // its complete response runs to its end (null: it is awaited here, as `cgihost try` wants).
  // `board`: where the child is shown while it runs (null: nowhere).
  cgi_run(exchange& ex, std::unique_ptr<spawner::child> child, const spawner::spool_file& spool,
          std::string script, bool nph, std::string who, clock::time_point started,
          std::shared_ptr<run_limit> slot, const config::cgi_settings& settings,
          after_response* after, std::shared_ptr<cgi_board> board)
      : slot_(std::move(slot)),
        board_(std::move(board)),
        stop_grace_(settings.stop_grace),
        activity_timeout_(settings.activity_timeout),
        slow_log_(settings.slow_request_log),
        stderr_mode_(settings.stderr_mode),
        after_(after),
        ex_(ex),
        owned_(std::move(child)),
        child_(*owned_),
        spool_(spool),
        script_(std::move(script)),
        relay_(ex, script_, nph),
        who_(std::move(who)),
        started_(started),
        stderr_grace_(child_.stdout_pipe().get_executor()),
        trace_(ex.trace()) {
    shown_.post(board_ ? &board_->running : nullptr, facts_of(ex, child_.pid(), started), phase());
  }

  // Runs the exchange to its end: the response sent or failed, and the child
  // reaped, or left to run on after its complete response (after_response).
  asio::awaitable<void> run(std::chrono::milliseconds timeout) {
    asio::steady_timer timer(child_.stdout_pipe().get_executor(), timeout);
    // stderr is read beside everything else, so a chatty child never blocks.
    co_await (race(timer) && read_stderr());
    if (lingering_)
      hand_off(timer.expiry());
    else
      give_back();  // reaped: before a local redirect runs another child
    co_await finish();
  }
  ~cgi_run() { give_back(); }

 private:
  // The response, the request body and the timeout race; whichever ends the
  // exchange, the child is reaped (and ended first if it still runs).
  asio::awaitable<void> race(asio::steady_timer& timer) {
    co_await (main_flow() || feed_stdin() || timeout_flow(timer) || activity_flow());
    if (!child_.exited() && answered()) {
      // The response is complete and the client no longer watched: the exit
      // status (usually there already), awaited briefly, tells a killed
      // child's cut body from a whole one.
      auto now = child_.try_wait();
      asio::steady_timer moment(child_.stdout_pipe().get_executor(), kExitMoment);
      auto first = now ? std::variant<spawner::exit_status, std::monostate>(*now)
                       : co_await (child_.wait() || moment.async_wait(asio::use_awaitable));
      if (first.index() == 0) {
        status_ = std::get<0>(first);
      } else {
        lingering_ = true;  // it goes on working: its stderr is read on by after_response
        error_code ec;
        child_.stderr_pipe().cancel(ec);
        co_return;
      }
    }
    if (!child_.exited()) status_ = co_await child_.terminate(stop_grace_);
    if (!stderr_done_) {
      stderr_grace_.expires_after(kStderrGrace);
      co_await stderr_grace_.async_wait(nothrow);
      if (!stderr_done_) {
        error_code ec;
        child_.stderr_pipe().cancel(ec);  // a grandchild may hold it open: stop waiting
      }
    }
  }

  // stdout to the client; then the child's exit, unless the response is
  // complete at the end of stdout: then the race ends here (the client is no
  // longer watched) and the child may run on after it.
  asio::awaitable<void> main_flow() {
    co_await read_stdout();
    if (answered() && after_ && !trace_) co_return;
    if (relay_.client_failed()) {
      status_ = co_await child_.terminate(stop_grace_);
    } else if (relay_.rejected() || relay_.stderr_refused()) {
      // Its output is no longer read: a moment to exit by itself (so the log
      // shows its own exit status), then it is ended.
      asio::steady_timer moment(child_.stdout_pipe().get_executor(), kRejectedGrace);
      auto first = co_await (child_.wait() || moment.async_wait(asio::use_awaitable));
      status_ = first.index() == 0 ? std::get<0>(first) : co_await child_.terminate(stop_grace_);
    } else {
      status_ = co_await child_.wait();
    }
  }

  asio::awaitable<void> timeout_flow(asio::steady_timer& timer) {
    auto [ec] = co_await timer.async_wait(nothrow);
    if (ec) co_return;
    timed_out_ = true;
    // TERM, then KILL after the grace period, to the whole group; the reaping
    // is done once, after this expression.
    child_.ask_group_to_end();
    timer.expires_after(stop_grace_);
    co_await timer.async_wait(nothrow);
    child_.end_group_now();
  }

  // What the request is doing, for the slow-request and activity lines and
  // the status page (show_phase: on the board).
  run_phase phase() const {
    return phase_of(child_.stdin_pipe().is_open(), ex_.head_sent(), stdout_ended_);
  }
  void show_phase() { shown_.set_phase(phase()); }

  // [cgi] slow_request_log: one line once the request runs past it. [cgi]
  // activity_timeout: no byte to or from the child for that long ends it as
  // the timeout does (TERM, KILL after stop_grace), naming the phase.
  // Otherwise waits until cancelled.
  asio::awaitable<void> activity_flow() {
    asio::steady_timer t(child_.stdout_pipe().get_executor());
    auto slow_at = slow_log_.count() ? started_ + slow_log_ : clock::time_point::max();
    while (true) {
      auto at = slow_at;
      if (activity_timeout_.count()) at = std::min(at, last_activity_ + activity_timeout_);
      t.expires_at(at);
      auto [ec] = co_await t.async_wait(nothrow);
      if (ec) co_return;
      const auto now = clock::now();
      if (now >= slow_at) {
        slow_at = clock::time_point::max();
        log_slow(now);
      }
      if (activity_timeout_.count() && now - last_activity_ >= activity_timeout_) break;
    }
    timed_out_ = true;
    inactive_phase_ = phase_name(phase());
    child_.ask_group_to_end();
    t.expires_after(stop_grace_);
    co_await t.async_wait(nothrow);
    child_.end_group_now();
  }

  void log_slow(clock::time_point now) {
    const auto& rq = ex_.request();
    ex_.log().warn(
        "[cgi] rid={} slow request: pid {} account {} {} {} running for {} ms "
        "(slow_request_log {} ms), phase {}",
        ex_.id().str(), child_.pid(), who_, rq.method, rq.target,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count(),
        slow_log_.count(), phase_name(phase()));
  }

  // The request body to the child's stdin, then nothing until cancelled.
  asio::awaitable<void> feed_stdin() {
    auto& pipe = child_.stdin_pipe();
    // No pipe: the request has no body (launch_spec::no_input).
    auto buf = pipe.is_open() ? std::make_unique_for_overwrite<char[]>(kBuffer) : nullptr;
    body_source body(ex_, spool_);
    while (pipe.is_open()) {
      error_code ec;
      const std::size_t n = co_await body.read(buf.get(), kBuffer, ec);
      if (ec == asio::error::operation_aborted) {
        // The race ended first (the response is complete, or failed): the
        // body's rest is the session's to drain, not a client that left.
        pipe.close(ec);
        co_return;
      }
      if (ec) {
        body_error_ = ec;
        break;
      }
      if (n == 0) break;
      auto [wec, wn] = co_await asio::async_write(pipe, asio::buffer(buf.get(), n), nothrow);
      if (wec) break;  // the child stopped reading (EPIPE): it has what it wanted
      last_activity_ = clock::now();
    }
    error_code ec;
    pipe.close(ec);
    show_phase();
    if (body_error_) {
      // The client's body stopped coming (gone, or too slow): so has the client.
      client_failed_ = true;
      co_return;
    }
    // Then watch the client: one that leaves ends its child (the race ends
    // here and the child is terminated), even while the child is silent.
    if (co_await ex_.client_gone()) client_failed_ = true;
  }

  asio::awaitable<void> read_stderr() {
    auto buf = std::make_unique_for_overwrite<char[]>(kBuffer);
    // A line without an end is logged in pieces rather than held without bound.
    auto line = [this](std::string_view l, bool) { stderr_line(l); };
    while (true) {
      auto [ec, n] =
          co_await child_.stderr_pipe().async_read_some(asio::buffer(buf.get(), kBuffer), nothrow);
      if (ec) break;
      last_activity_ = clock::now();
      if (trace_) keep(trace_->stderr_bytes, trace_->stderr_total, std::string_view(buf.get(), n));
      if (stderr_mode_ == config::stderr_handling::ignore) continue;
      if (stderr_mode_ == config::stderr_handling::log_and_500 &&
          !std::exchange(stderr_seen_, true))
        stderr_before_head();
      lines_.feed(std::string_view(buf.get(), n), line);
    }
    if (lingering_) co_return;  // read on by after_response, from where this stopped
    if (!lines_.empty()) stderr_line(lines_.take_rest());
    if (stderr_lines_ > kStderrLines)
      ex_.log().warn("[cgi] rid={} {}: {} more stderr lines not logged", ex_.id().str(), script_,
                     stderr_lines_ - kStderrLines);
    stderr_done_ = true;
    stderr_grace_.cancel();
  }

  // stderr_mode = "log_and_500": the first stderr bytes make the answer a
  // 500, unless the response had begun (then it stands, and the log says so).
  void stderr_before_head() {
    if (relay_.refuse_for_stderr()) return;
    ex_.log().warn(
        "[cgi] rid={} {} wrote to stderr after its response began: the response stands "
        "(stderr_mode = \"log_and_500\")",
        ex_.id().str(), script_);
  }

  static void keep(std::string& into, std::uint64_t& total, std::string_view bytes) {
    total += bytes.size();
    if (into.size() < cgi_trace::kept) into.append(bytes.substr(0, cgi_trace::kept - into.size()));
  }

  void stderr_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++stderr_lines_;
    std::string escaped = cgi::escape_excerpt(line, 16 * 1024);
    if (stderr_lines_ <= kStderrLines)
      ex_.log().warn("[cgi] rid={} {} stderr: {}", ex_.id().str(), script_, escaped);
    tail_.push_back(std::move(escaped));
    if (tail_.size() > kStderrTail) tail_.pop_front();
  }

  asio::awaitable<void> read_stdout() {
    auto buf = std::make_unique_for_overwrite<char[]>(kBuffer);
    while (true) {
      auto [ec, n] =
          co_await child_.stdout_pipe().async_read_some(asio::buffer(buf.get(), kBuffer), nothrow);
      if (ec) {
        // Cancelled: the client left or the time is up; the output did not end.
        stdout_ended_ = ec != asio::error::operation_aborted;
        break;
      }
      last_activity_ = clock::now();
      if (trace_) keep(trace_->stdout_bytes, trace_->stdout_total, std::string_view(buf.get(), n));
      const bool more = co_await relay_.feed(std::string_view(buf.get(), n));
      show_phase();
      if (!more) break;
    }
    if (stdout_ended_) relay_.end();
    show_phase();
  }

  // The output ended and went to the client whole: nothing more is owed to it.
  bool answered() const {
    return stdout_ended_ && !timed_out_ && !client_failed_ && !relay_.rejected() &&
           !relay_.stderr_refused() && !relay_.client_failed() && !relay_.body_short() &&
           (relay_.nph() || relay_.head_complete());
  }

  // The child goes on after its complete response: to after_response, with
  // its place under max_children, its deadline and its stderr as read so far.
  void hand_off(clock::time_point deadline) {
    after_response::leftover l;
    const auto pid = child_.pid();
    l.log = &ex_.log();
    l.rid = ex_.id().str();
    l.script = script_;
    l.answered = clock::now();
    l.deadline = deadline;
    l.lines = std::move(lines_);
    l.stderr_count = stderr_lines_;
    l.stderr_max = kStderrLines;
    l.ignore_stderr = stderr_mode_ == config::stderr_handling::ignore;
    l.limit = std::exchange(slot_, nullptr);
    l.stop_grace = stop_grace_;
    shown_.own_strings();  // it outlives the exchange
    shown_.set_phase(run_phase::after_response);
    l.shown = std::move(shown_);
    l.board = board_;
    auto executor = child_.stdout_pipe().get_executor();
    l.child = std::move(owned_);
    after_->adopt(executor, std::move(l));
    ex_.log().debug("[cgi] rid={} {} pid {} goes on after its complete response", ex_.id().str(),
                    script_, pid);
  }

  std::string exit_text() const {
    return lingering_ ? std::string("still running after its response") : status_.describe();
  }

  // The diagnosis of a failed request: for the log on one line (sep "; "),
  // for the dev-mode page one fact a line.
  std::string diagnosis(std::string_view what, std::string_view sep = "\n") const {
    std::string d(what);
    d += std::string(sep) + "script: " + script_;
    d += std::string(sep) + "exit: " +
         (!lingering_ && child_.exited() ? status_.describe() : std::string("still running"));
    d += std::string(sep) + "identity: " + who_;
    d += std::string(sep) + "times: spawn " + fmt_ms(spawned_, started_) + ", first byte " +
         fmt_ms(relay_.first_byte(), started_) + ", headers " +
         fmt_ms(relay_.headers_at(), started_);
    if (!tail_.empty()) {
      d += std::string(sep) + "last stderr lines:";
      for (const auto& l : tail_) d += (sep == "\n" ? "\n  " : " | ") + l;
    }
    return d;
  }

  std::string verdict() const {
    if (timed_out_ && !inactive_phase_.empty())
      return "504 Gateway Timeout: the program wrote nothing for activity_timeout while " +
             inactive_phase_;
    if (timed_out_) return "504 Gateway Timeout: the program did not finish within its timeout";
    std::string v = relay_.verdict();
    if (relay_.head_complete() && status_.killed_by_signal())
      v += "; the program was killed: the response would be cut";
    return v;
  }

  asio::awaitable<void> finish() {
    if (trace_) {
      trace_->exit = exit_text();
      trace_->verdict = verdict();
    }
    exchange_facts facts;
    facts.how = timed_out_ ? ending::timed_out : ending::complete;
    facts.client_failed = client_failed_;
    facts.killed = status_.killed_by_signal();
    relay_facts(relay_, ex_, facts);
    const host::verdict v = classify(facts);
    if (sends(v)) {
      co_await carry_out(ex_, v, relay_, *this);
    } else {
      settle(ex_, v, *this);
    }
  }

  // The CGI module's words for a verdict ("[cgi]" lines, the diagnosis with
  // the exit, the identity, the times and the last stderr lines).
  refusal refusal_for(const host::verdict& v) override {
    const std::string head = "[cgi] rid=" + ex_.id().str() + " ";
    refusal no;
    no.status = v.status;
    if (v.why == host::verdict::cause::timed_out) {
      const std::string what =
          inactive_phase_.empty()
              ? "the CGI program did not finish within its timeout; its process group was ended"
              : "the CGI program wrote nothing for activity_timeout (" +
                    std::to_string(activity_timeout_.count()) + " ms) while " + inactive_phase_ +
                    "; its process group was ended";
      no.code = inactive_phase_.empty() ? "cgi.timeout" : "cgi.activity_timeout";
      if (!inactive_phase_.empty()) no.phase = "cgi, phase " + inactive_phase_;
      no.reason = what;
      no.dev_detail = diagnosis(what);
      no.module_line = head + "504 " + diagnosis(what, "; ");
      no.module_level = spdlog::level::warn;
    } else if (v.why == host::verdict::cause::stderr_written) {
      const std::string what =
          "the CGI program wrote to stderr before its response (stderr_mode = \"log_and_500\")";
      no.code = "cgi.stderr";
      no.reason = what;
      no.dev_detail = diagnosis(what);
      no.module_line = head + "500 " + diagnosis(what, "; ");
      no.module_level = spdlog::level::warn;
    } else if (v.why == host::verdict::cause::rejected) {
      const std::string what = relay_.rejection_text();
      no.code = "cgi.rejected";
      no.reason = "the CGI program misbehaved";
      no.dev_detail = diagnosis(what);
      no.module_line = head + "502 " + diagnosis(what, "; ");
    } else {  // body_short, killed: the head went out
      no.code = v.why == host::verdict::cause::body_short ? "cgi.body_short" : "cgi.killed";
      no.reason = v.why == host::verdict::cause::body_short ? "body shorter than its Content-Length"
                                                            : status_.describe();
      no.module_line = head + script_ + ": " + no.reason +
                       " after the headers were sent; the connection is closed";
    }
    return no;
  }

  void note(const host::verdict& v) override {
    const auto rid = ex_.id().str();
    if (v.what == host::verdict::kind::client_left) {
      // Seen gone (not a refused body, which the session answers): nothing
      // more is sent, and the access log says 499.
      if (!body_error_) ex_.state().client_left = true;
      ex_.log().info("[cgi] rid={} {}: the client went away; the child was ended ({})", rid,
                     script_, status_.describe());
    } else if (v.why == host::verdict::cause::nph) {
      ex_.log().debug("[cgi] rid={} {} nph done, {}", rid, script_, exit_text());
    } else if (v.what == host::verdict::kind::finish_body) {
      ex_.log().debug("[cgi] rid={} {} {} {} identity={} first_byte={} headers={}", rid, script_,
                      relay_.head().status, exit_text(), who_,
                      fmt_ms(relay_.first_byte(), started_), fmt_ms(relay_.headers_at(), started_));
    }
  }

  void give_back() {
    shown_.take_down();
    if (slot_) std::exchange(slot_, nullptr)->release();
  }

  std::shared_ptr<run_limit> slot_;
  std::shared_ptr<cgi_board> board_;
  request_board::entry shown_;  // on board_->running while the child runs here
  std::chrono::milliseconds stop_grace_;
  std::chrono::milliseconds activity_timeout_;  // 0: none
  std::chrono::milliseconds slow_log_;          // slow_request_log; 0: none
  clock::time_point last_activity_ = clock::now();
  std::string inactive_phase_;  // set when activity_timeout ended it
  config::stderr_handling stderr_mode_;
  bool stderr_seen_ = false;
  after_response* after_;
  exchange& ex_;
  // The child, until it is handed off (then child_ is not used again).
  std::unique_ptr<spawner::child> owned_;
  spawner::child& child_;
  const spawner::spool_file& spool_;
  std::string script_;
  response_relay relay_;
  std::string who_;
  clock::time_point started_;
  asio::steady_timer stderr_grace_;
  bool stderr_done_ = false;
  bool timed_out_ = false;
  bool client_failed_ = false;   // the client left while the child ran
  bool stdout_ended_ = false;    // its stdout reached its end (not cancelled)
  bool lingering_ = false;       // it runs on after its complete response
  stderr_lines lines_{kBuffer};  // a line without an end is logged in pieces
  error_code body_error_;
  spawner::exit_status status_;
  std::optional<clock::time_point> spawned_ = clock::now();
  std::size_t stderr_lines_ = 0;
  std::deque<std::string> tail_;
  cgi_trace* trace_;
};

}  // namespace

cgi_handler::cgi_handler(const config::config& cfg, const config::handler& h,
                         spawner::broker* broker, std::shared_ptr<run_limit> limit,
                         std::shared_ptr<after_response> after, std::shared_ptr<cgi_board> board)
    : cfg_(cfg),
      h_(h),
      broker_(broker),
      limit_(std::move(limit)),
      after_(std::move(after)),
      board_(std::move(board)) {
  switch_identity_ = broker_ != nullptr || spawner::can_switch_accounts();
  pass_through_ = pass_through_environment();
  if (broker_) {
    // With privilege separation the process identity is identity.process
    // (the network process itself runs as an account of its own).
    process_identity_ =
        cfg.identity.process.name + " uid " + std::to_string(cfg.identity.process.uid);
  } else {
    const auto self = spawner::current_account();
    process_identity_ = (self.name.empty() ? std::string("?") : self.name) + " uid " +
                        std::to_string(self.uid.value);
  }
}

cgi_handler::~cgi_handler() = default;

asio::awaitable<std::optional<refusal>> cgi_handler::prepare(exchange& ex, prepared& p) {
  const route& r = ex.route();
  auto script = find_script(r, cfg_, h_.interpreter.empty());
  if (!script) co_return std::move(script).error();
  p.script_path = std::move(script->path);
  const std::string& script_path = p.script_path;
  const std::string base = r.script_name.substr(r.script_name.rfind('/') + 1);
  p.nph = base.rfind("nph-", 0) == 0;

  // Who runs it (the decision table in identity_choice.hpp), checked now
  // against the account database and the script's owner, group and mode.
  const auto user = ex.authenticated_user();
  const auto choice =
      choose_identity(cfg_, config::module_kind::cgi, r.create_process_as_user, false, user,
                      switch_identity_, process_identity_of(cfg_, r), ex.state().token_identity);
  p.why = choice.why;
  std::optional<spawner::identity> as;
  if (choice.refused_status || choice.account) {
    auto id = check_identity(cfg_, choice, script->st, h_.interpreter.empty(),
                             check_subject{"[cgi]", ex.id().str(), r.script_name});
    if (!id) co_return std::move(id).error();
    as = std::move(*id);
    if (choice.token) as->token = choice.token->token;  // the token IIS forwarded
    p.who = as->describe();
  } else {
    p.who = "uid " + std::to_string(spawner::current_account().uid.value) +
            " (cgihost's own account: it is not root and cannot switch)";
  }
  ex.set_identity(as ? as->name : std::to_string(spawner::current_account().uid.value));
  ex.state().run.account = as ? as->name : spawner::current_account().name;

  auto length = co_await body_length_or_spool(ex, p.spool);
  if (!length) co_return std::move(length).error();
  cgi::variables vars = request_variables(ex, cfg_, script_path, *length, user, pass_through_);
  p.spec = launch_spec_of(script_path, std::move(as), vars);
  p.spec.no_input = *length == 0;  // stdin at its end from the start: no pipe to feed
  if (cgi_trace* t = ex.trace()) {
    t->env = vars;
    t->program = p.spec.program;
    t->argv = p.spec.argv;
    t->identity = p.who + " (" + p.why + ")";
  }
  co_return std::nullopt;
}

spawner::launch_spec cgi_handler::launch_spec_of(const std::string& script_path,
                                                 std::optional<spawner::identity> as,
                                                 const protocol::cgi::variables& vars) const {
  spawner::launch_spec spec;
  if (h_.interpreter.empty()) {
    spec.program = script_path;
    spec.argv = {script_path};
  } else {
    spec.program = h_.interpreter[0];
    spec.argv = h_.interpreter;
    spec.argv.push_back(script_path);
  }
  spec.env = cgi::to_envp(vars);
  spec.working_dir = script_path.substr(0, script_path.rfind('/'));  // as IIS does
  spec.as = std::move(as);
  spec.limits.address_space = cfg_.cgi.max_address_space;
  spec.limits.cpu_seconds = cfg_.cgi.max_cpu_seconds;
  spec.limits.open_files = cfg_.cgi.max_open_files;
  spec.limits.processes = cfg_.cgi.max_processes;
  return spec;
}

namespace {

// A 503 of the CGI module (no room under a limit that soon frees itself),
// with Retry-After 1 s and the phase that names the limit.
refusal cgi_unavailable(exchange& ex, const std::string& code, const std::string& phase,
                        const std::string& what, std::string_view log_head) {
  refusal no;
  no.status = http::status::service_unavailable;
  no.code = code;
  no.reason = what;
  no.phase = "cgi, phase " + phase;
  no.dev_detail = what;
  no.retry_after = std::chrono::seconds(1);
  no.module_line = "[cgi] rid=" + ex.id().str() + " 503 " + std::string(log_head) + what;
  no.module_level = spdlog::level::warn;
  return no;
}

// A failed spawn: 401 when the account's logon failed (IIS's 401.1: the
// spawner service could not log it on), 503 for a process limit (soon over),
// else 502.
refusal spawn_refusal(exchange& ex, const config::config& cfg, const std::string& who,
                      const spawner::launch_spec& spec, const spawner::launch_error& lerr) {
  refusal no;
  if (lerr.step == spawner::launch_step::logon) {
    const std::string what = "cgi.logon_failed: cannot run " + spec.program + " as " + who +
                             ": the spawner service's " + lerr.message();
    no.status = http::status::unauthorized;
    no.code = "cgi.logon_failed";
    no.reason = what;
    no.dev_detail = what;
    no.module_line = "[cgi] rid=" + ex.id().str() + " 401 " + what;
    if (cgi_trace* t = ex.trace()) t->verdict = "401 Unauthorized: " + what;
    return no;
  }
  if (lerr.process_limit()) {
    // Not the script's fault and soon over (a process of the account ends):
    // 503 with Retry-After, naming the limit to change.
    std::string what = "cannot start " + spec.program + " as " + who + ": " + lerr.message();
    if (cfg.cgi.max_processes)
      what += "; cgi.max_processes = " + std::to_string(*cfg.cgi.max_processes);
    no = cgi_unavailable(ex, "cgi.process_limit", "spawn", what, "phase spawn: ");
    if (cgi_trace* t = ex.trace()) t->verdict = "503 Service Unavailable: " + what;
    return no;
  }
  const std::string what = "cgi.spawn_failed: cannot start " + spec.program + ": " + lerr.message();
  no.status = http::status::bad_gateway;
  no.code = "cgi.spawn_failed";
  no.reason = what;
  no.dev_detail = what + "\nidentity: " + who;
  no.module_line = "[cgi] rid=" + ex.id().str() + " 502 " + what + " identity=" + who;
  if (cgi_trace* t = ex.trace()) t->verdict = "502 Bad Gateway: " + what;
  return no;
}

}  // namespace

asio::awaitable<void> cgi_handler::handle(exchange& ex) {
  const auto started = clock::now();
  const route& r = ex.route();
  const std::string rid = ex.id().str();
  prepared p;
  if (auto no = co_await prepare(ex, p)) {
    co_await answer(ex, *no);
    co_return;
  }

  // [cgi] max_children: wait for a child to end, within the request's timeout
  // (shown on the board meanwhile).
  std::shared_ptr<run_limit> slot;
  if (limit_) {
    bool room = limit_->try_acquire();
    if (!room) {
      request_board::entry waiting;
      waiting.post(board_ ? &board_->waiting : nullptr, facts_of(ex, -1, started),
                   run_phase::waiting_for_room);
      room = co_await limit_->acquire(started + r.cgi_timeout);
    }
    if (!room) {
      co_await answer(ex, cgi_unavailable(ex, "cgi.max_children", "queue wait",
                                          "all " + std::to_string(limit_->max()) +
                                              " CGI children (cgi.max_children) stayed busy for "
                                              "the request's timeout",
                                          ""));
      co_return;
    }
    slot = limit_;
  }
  ex.state().run.slot_at = clock::now();
  struct slot_guard {  // until cgi_run owns it
    std::shared_ptr<run_limit>& s;
    ~slot_guard() {
      if (s) s->release();
    }
  } guard{slot};
  spawner::launch_error lerr;
  auto launched = spawner::start_child(broker_, p.spec, lerr);
  if (!launched) {
    co_await answer(ex, spawn_refusal(ex, cfg_, p.who, p.spec, lerr));
    co_return;
  }
  // Each spawn says who ran it and why (the "why did this run as X" question);
  // its arguments are not even built when the level leaves it out.
  if (ex.log().should_log(spdlog::level::info))
    ex.log().info(
        "[cgi] rid={} started {} pid {}: process identity {}, effective identity {}; {} ({:.1f}ms)",
        rid, p.script_path, launched->pid,
        r.process_identity && broker_
            ? r.process_identity->name + " uid " + std::to_string(r.process_identity->uid)
            : process_identity_,
        p.who, p.why, ms(clock::now() - started));
  ex.state().run.pid = launched->pid;
  auto child = std::make_unique<spawner::child>(co_await asio::this_coro::executor, *launched);
  cgi_run run(ex, std::move(child), p.spool, r.script_name, p.nph, p.who, started,
              std::exchange(slot, nullptr), cfg_.cgi, after_.get(), board_);
  co_await run.run(r.cgi_timeout);
}

}  // namespace cgihost::host
