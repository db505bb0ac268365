// `cgihost service ...` on Windows. See service_command.hpp.
#include "host/app/service_command.hpp"

#if defined(_WIN32)

#include <windows.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "host/app/server.hpp"
#include "host/dispatch/logging.hpp"
#include "spawner/windows/event_log.hpp"
#include "spawner/windows/service.hpp"

namespace cgihost::host {
namespace {

std::wstring wide(const std::string& s) {
  if (s.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n);
  return out;
}

std::string system_text(DWORD error) {
  return std::error_code(static_cast<int>(error), std::system_category()).message() + " (" +
         std::to_string(error) + ")";
}

struct sc_handle {
  SC_HANDLE h;
  explicit sc_handle(SC_HANDLE v) : h(v) {}
  ~sc_handle() {
    if (h) ::CloseServiceHandle(h);
  }
  sc_handle(const sc_handle&) = delete;
  sc_handle& operator=(const sc_handle&) = delete;
};

// What `service run` works from: the arguments, and the event that stops it.
struct run_state {
  service_args args;
  config::load_options options;
  HANDLE stop = nullptr;
  SERVICE_STATUS_HANDLE status = nullptr;
  int exit_code = 0;
};
run_state* g_run = nullptr;  // for the service manager's callbacks

void report(DWORD state, DWORD exit_code = NO_ERROR) {
  if (!g_run || !g_run->status) return;
  SERVICE_STATUS st{};
  st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  st.dwCurrentState = state;
  st.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  st.dwWin32ExitCode = exit_code == NO_ERROR ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  st.dwServiceSpecificExitCode = exit_code;
  st.dwWaitHint = state == SERVICE_START_PENDING ? 30000 : 0;
  ::SetServiceStatus(g_run->status, &st);
}

using events_ptr = std::shared_ptr<const spawner::service::event_log>;

// A line of the service to its error log and, under the service manager
// (`events` set), its warnings and errors to the event log too.
void say(const logs& lg, const events_ptr& events, spawner::service::level l,
         const std::string& text) {
  const auto at = l == spawner::service::level::info   ? spdlog::level::info
                  : l == spawner::service::level::warn ? spdlog::level::warn
                                                       : spdlog::level::critical;
  if (lg.error) lg.error->log(at, "{}", text);
  if (events) events->report(l, text);
}

// The config's settings for the service; nullopt after logging why not.
std::optional<spawner::service::settings> settings_of(const config::config& cfg,
                                                      const std::string& name, const logs& lg,
                                                      const events_ptr& events) {
  using spawner::service::level;
  if (!cfg.identity.server || cfg.identity.server->sid.empty()) {
    say(lg, events, level::error,
        "cannot start the spawner service " + name +
            ": the config names no [identity] server (the front end's account, e.g. 'IIS "
            "AppPool\\cgihost'), the only account it admits");
    return std::nullopt;
  }
  if (cfg.identity.spawner_service && *cfg.identity.spawner_service != name)
    say(lg, events, level::warn,
        "the config's [identity] spawner_service is \"" + *cfg.identity.spawner_service +
            "\", this service is \"" + name + "\": the front end looks for another pipe");
  std::string error;
  auto accounts = spawn_accounts(cfg, error);
  if (!error.empty()) {
    say(lg, events, level::error, "cannot start the spawner service " + name + ": " + error);
    return std::nullopt;
  }
  spawner::service::settings s;
  s.name = name;
  s.server_name = cfg.identity.server->name;
  s.server_sid = cfg.identity.server->sid;
  s.password_file = cfg.identity.logon_password_file.value_or(std::filesystem::path{});
  s.iis_token = cfg.authentication.iis_token;
  for (auto& a : accounts)
    if (!a.is_root()) s.allowed.push_back(std::move(a));
  auto log = lg.error;
  s.log = [log, events](spawner::service::level l, const std::string& text) {
    const auto at = l == spawner::service::level::info   ? spdlog::level::info
                    : l == spawner::service::level::warn ? spdlog::level::warn
                                                         : spdlog::level::err;
    log->log(at, "[spawner service] {}", text);
    if (events) events->report(l, text);
  };
  return s;
}

// The service's body: reads and checks the config, serves the pipe until
// `state.stop`. 0 after a stop, 1 when it cannot start. Under the service
// manager (no console shows why it stops) its warnings and errors, the
// config's errors among them, go to the event log too (source: its name).
int run_body(run_state& state) {
  using spawner::service::level;
  events_ptr events;
  if (!state.args.console)
    events = std::make_shared<const spawner::service::event_log>(state.args.name);
  auto r = config::load_file(state.args.config, state.options);
  if (!r.ok()) {
    std::string all;
    for (const auto& d : r.errors) {
      std::cerr << d.to_string() << '\n';
      all += "\n" + d.to_string();
    }
    say({}, events, level::error, "cannot start: the config does not load:" + all);
    return 1;
  }
  logs lg;
  try {
    lg = open_logs(r.value->log);
  } catch (const std::exception& e) {
    std::cerr << "cgihost: cannot open log: " << e.what() << '\n';
    say({}, events, level::error, std::string("cannot start: cannot open log: ") + e.what());
    return 1;
  }
  auto s = settings_of(*r.value, state.args.name, lg, events);
  if (!s) return 1;
  s->ready = [] { report(SERVICE_RUNNING); };
  std::string error;
  if (!spawner::service::serve(*s, state.stop, error)) {
    say(lg, events, level::error,
        "cannot start the spawner service " + state.args.name + ": " + error);
    return 1;
  }
  lg.error->info("[spawner service] {} stopped", state.args.name);
  return 0;
}

DWORD WINAPI control(DWORD code, DWORD, void*, void*) {
  if (code == SERVICE_CONTROL_STOP || code == SERVICE_CONTROL_SHUTDOWN) {
    report(SERVICE_STOP_PENDING);
    ::SetEvent(g_run->stop);
    return NO_ERROR;
  }
  return code == SERVICE_CONTROL_INTERROGATE ? NO_ERROR : ERROR_CALL_NOT_IMPLEMENTED;
}

void WINAPI service_main(DWORD, LPWSTR*) {
  g_run->status = ::RegisterServiceCtrlHandlerExW(wide(g_run->args.name).c_str(), control, nullptr);
  report(SERVICE_START_PENDING);
  g_run->exit_code = run_body(*g_run);
  report(SERVICE_STOPPED, static_cast<DWORD>(g_run->exit_code));
}

BOOL WINAPI console_control(DWORD) {
  ::SetEvent(g_run->stop);
  return TRUE;
}

int run(const service_args& args, const config::load_options& options) {
  static run_state state;
  state.args = args;
  state.options = options;
  state.stop = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  g_run = &state;
  if (args.console) {
    ::SetConsoleCtrlHandler(console_control, TRUE);
    return run_body(state);
  }
  std::wstring name = wide(args.name);
  SERVICE_TABLE_ENTRYW table[] = {{name.data(), service_main}, {nullptr, nullptr}};
  if (!::StartServiceCtrlDispatcherW(table)) {
    std::cerr << "cgihost: service run: not started by the service manager ("
              << system_text(::GetLastError()) << "); use --console to run it in the foreground\n";
    return 1;
  }
  return state.exit_code;
}

std::wstring this_exe() {
  std::wstring path(32768, L'\0');
  const DWORD n = ::GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
  path.resize(n);
  return path;
}

int install(const service_args& args, const config::load_options& options) {
  auto r = config::load_file(args.config, options);
  if (!r.ok()) {
    for (const auto& d : r.errors) std::cerr << d.to_string() << '\n';
    return 1;
  }
  if (!r.value->identity.server) {
    std::cerr << "cgihost: service install: " << args.config
              << ": the config names no [identity] server (the front end's account, e.g. 'IIS "
                 "AppPool\\cgihost'), the only account the service admits\n";
    return 1;
  }
  std::error_code ec;
  const auto config = std::filesystem::absolute(args.config, ec);
  const std::wstring command = L"\"" + this_exe() + L"\" service run -c \"" + config.wstring() +
                               L"\" --name " + wide(args.name);
  sc_handle scm(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE));
  if (!scm.h) {
    std::cerr << "cgihost: service install: OpenSCManagerW: " << system_text(::GetLastError())
              << " (run it as an administrator)\n";
    return 1;
  }
  const std::wstring name = wide(args.name), shown = L"cgihost spawner (" + name + L")";
  sc_handle svc(::CreateServiceW(scm.h, name.c_str(), shown.c_str(), SERVICE_ALL_ACCESS,
                                 SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                 SERVICE_ERROR_NORMAL, command.c_str(), nullptr, nullptr, nullptr,
                                 nullptr /* LocalSystem */, nullptr));
  if (!svc.h) {
    std::cerr << "cgihost: service install " << args.name
              << ": CreateServiceW: " << system_text(::GetLastError()) << '\n';
    return 1;
  }
  std::wstring text =
      L"Starts cgihost's CGI programs and FastCGI pools as the accounts its config names, for "
      L"the unprivileged front end (cgihost serve), over \\\\.\\pipe\\" +
      name + L"-spawner.";
  SERVICE_DESCRIPTIONW description{text.data()};
  ::ChangeServiceConfig2W(svc.h, SERVICE_CONFIG_DESCRIPTION, &description);
  std::cout << "installed service " << args.name << " (LocalSystem, automatic start); start it "
            << "with: sc start " << args.name << '\n';
  return 0;
}

int uninstall(const service_args& args) {
  sc_handle scm(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  sc_handle svc(scm.h ? ::OpenServiceW(scm.h, wide(args.name).c_str(),
                                       DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS)
                      : nullptr);
  if (!svc.h) {
    std::cerr << "cgihost: service uninstall " << args.name << ": " << system_text(::GetLastError())
              << '\n';
    return 1;
  }
  SERVICE_STATUS st{};
  ::ControlService(svc.h, SERVICE_CONTROL_STOP, &st);  // not running: nothing to stop
  if (!::DeleteService(svc.h)) {
    std::cerr << "cgihost: service uninstall " << args.name
              << ": DeleteService: " << system_text(::GetLastError()) << '\n';
    return 1;
  }
  std::cout << "removed service " << args.name << '\n';
  return 0;
}

}  // namespace

int service_command(const service_args& args, const config::load_options& options) {
  if (args.action == "install") return install(args, options);
  if (args.action == "uninstall") return uninstall(args);
  return run(args, options);
}

}  // namespace cgihost::host

#endif
