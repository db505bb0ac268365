// spawner/ on Windows: launch(), child, exit_watch, this_process, broker and
// subreaper, against a real child (tests/windows/programs/win_child.cpp).
// Run under Wine by `ctest --preset windows`; what Wine does not enforce is
// skipped with that reason (see running_under_wine()).
#include <gtest/gtest.h>
#include <windows.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <istream>
#include <string>
#include <vector>

#include "spawner/broker.hpp"
#include "spawner/child.hpp"
#include "spawner/launch.hpp"
#include "spawner/reaper.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::spawner {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A program path CMake gives (a Linux path) as Wine names it: drive Z: is /.
std::string windows_path(std::string linux_path) {
  for (char& c : linux_path)
    if (c == '/') c = '\\';
  return "Z:" + linux_path;
}

const std::string kChild = windows_path(CGIHOST_PROGRAM_win_child);
const std::string kResponder = windows_path(CGIHOST_PROGRAM_win_fcgi_responder);

bool running_under_wine() {
  return ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != nullptr;
}

// Go's way: this test binary re-run as a helper (CGIHOST_TEST_HELPER set)
// does the helper's work before main() and never runs the tests. `parent`:
// it launches `win_child sleep` as cgihost would, prints the child's pid and
// sleeps until it is killed.
const bool kRanAsHelper = [] {
  char mode[32] = "";
  if (::GetEnvironmentVariableA("CGIHOST_TEST_HELPER", mode, sizeof mode) == 0) return false;
  launch_spec spec;
  spec.program = kChild;
  spec.argv = {kChild, "sleep"};
  launch_error error;
  auto launched = launch(spec, error);
  std::string line = launched ? std::to_string(launched->pid) : "failed " + error.message();
  line += "\n";
  DWORD n = 0;
  ::WriteFile(::GetStdHandle(STD_OUTPUT_HANDLE), line.data(), static_cast<DWORD>(line.size()), &n,
              nullptr);
  if (launched) ::Sleep(INFINITE);
  ::ExitProcess(3);
}();

// "SystemRoot=..." of this process: Winsock does not start without it.
std::string system_root() {
  char dir[MAX_PATH] = "";
  ::GetEnvironmentVariableA("SystemRoot", dir, sizeof dir);
  return std::string("SystemRoot=") + dir;
}

launch_spec spec_for(std::vector<std::string> args) {
  launch_spec spec;
  spec.program = kChild;
  spec.argv = {kChild};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  return spec;
}

asio::awaitable<void> read_all(pipe_reader& pipe, std::string& into) {
  char buf[8192];
  while (true) {
    auto [ec, n] =
        co_await pipe.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    into.append(buf, n);
    if (ec) co_return;  // broken_pipe: every writer is gone (child.hpp)
  }
}

// Runs `f(child&)` as a coroutine until it completes (at most 20 s).
template <class F>
void run_with_child(const launch_spec& spec, F f) {
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  asio::io_context io;
  auto c = std::make_unique<child>(io.get_executor(), *launched);
  bool done = false;
  asio::co_spawn(io, f(*c), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  io.run_for(20s);
  ASSERT_TRUE(done) << "the child's exchange did not complete within 20 s";
}

struct ran {
  exit_status status;
  std::string out, err;
};

// Starts `spec`, writes `input` to its stdin (when it has a pipe) and
// closes it, reads stdout and stderr to their ends, waits for the exit.
ran run(const launch_spec& spec, std::string input = {}) {
  ran r;
  run_with_child(spec, [&](child& c) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    if (c.stdin_pipe().is_open())
      asio::co_spawn(
          ex,
          [&]() -> asio::awaitable<void> {
            co_await asio::async_write(c.stdin_pipe(), asio::buffer(input),
                                       asio::as_tuple(asio::use_awaitable));
            c.stdin_pipe().close();
          },
          asio::detached);
    bool err_done = false;
    asio::co_spawn(ex, read_all(c.stderr_pipe(), r.err),
                   [&](std::exception_ptr) { err_done = true; });
    co_await read_all(c.stdout_pipe(), r.out);
    asio::steady_timer t(ex);
    while (!err_done) {
      t.expires_after(1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    r.status = co_await c.wait();
  });
  return r;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (std::size_t end; (end = s.find(sep, at)) != std::string::npos; at = end + 1)
    out.push_back(s.substr(at, end - at));
  return out;
}

TEST(WindowsLaunch, ExitCode) {
  auto r = run(spec_for({"exit", "7"}));
  EXPECT_TRUE(r.status.exited);
  EXPECT_EQ(r.status.code, 7);
  EXPECT_FALSE(r.status.killed_by_signal());
  EXPECT_EQ(r.status.describe(), "exit 7");
}

TEST(WindowsLaunch, ACrashIsItsExceptionCodeAndNoDialog) {
  // JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION: no error report waits on it.
  if (running_under_wine())
    GTEST_SKIP() << "Wine starts its debugger (winedbg) on an unhandled exception, whatever the "
                    "job says";
  auto r = run(spec_for({"crash"}));
  EXPECT_TRUE(r.status.exited);
  EXPECT_EQ(static_cast<unsigned>(r.status.code), 0xC0000005u);  // STATUS_ACCESS_VIOLATION
  EXPECT_EQ(r.status.describe(), "exit 0xC0000005");
}

TEST(WindowsLaunch, StdoutAndStderrReadToTheirEnds) {
  // More than a pipe's buffer (64 KiB): the child blocks until it is read.
  auto r = run(spec_for({"out-err", "300000"}));
  ASSERT_EQ(r.out.size(), 300000u);
  EXPECT_EQ(r.out.substr(0, 12), "012345678901");
  EXPECT_EQ(r.out.back(), '9');
  EXPECT_EQ(r.err, "to stderr\n");
  EXPECT_EQ(r.status.describe(), "exit 0");
}

TEST(WindowsLaunch, StdinWrittenAndEchoed) {
  std::string input(200000, 'x');
  for (std::size_t i = 0; i < input.size(); i += 7) input[i] = static_cast<char>('a' + i % 26);
  auto r = run(spec_for({"echo"}), input);
  EXPECT_EQ(r.out, input);
  EXPECT_EQ(r.status.code, 0);
}

TEST(WindowsLaunch, NoInputIsTheNulDevice) {
  auto spec = spec_for({"echo"});
  spec.no_input = true;
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  EXPECT_EQ(launched->stdin_fd, no_handle);
  asio::io_context io;
  child c(io.get_executor(), *launched);
  EXPECT_FALSE(c.stdin_pipe().is_open());
  std::string out;
  exit_status st;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await read_all(c.stdout_pipe(), out);
        st = co_await c.wait();
      },
      asio::detached);
  io.run_for(20s);
  EXPECT_EQ(out, "");
  EXPECT_EQ(st.describe(), "exit 0");  // its read ended at once
}

TEST(WindowsLaunch, StdinHandleGivenByTheCaller) {
  // A handle the caller gives (a FastCGI listener, here a pipe's read end,
  // not inheritable) as the child's stdin: the child gets a duplicate, the
  // caller keeps its own; the child's stdout and stderr are then
  // INVALID_HANDLE_VALUE, as php-cgi.exe and libfcgi need to take stdin for
  // a listener (the responder tests below serve on such a stdin).
  HANDLE read_end = nullptr, write_end = nullptr;
  ASSERT_TRUE(::CreatePipe(&read_end, &write_end, nullptr, 0));
  auto spec = spec_for({"echo"});
  spec.stdin_fd = read_end;
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  EXPECT_EQ(launched->stdin_fd, no_handle);
  EXPECT_EQ(launched->stdout_fd, no_handle) << "no output pipe beside a given stdin";
  EXPECT_EQ(launched->stderr_fd, no_handle);
  asio::io_context io;
  child c(io.get_executor(), *launched);
  DWORD n = 0;
  ASSERT_TRUE(::WriteFile(write_end, "given\n", 6, &n, nullptr));
  ::CloseHandle(write_end);
  exit_status status;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { status = co_await c.wait(); }, asio::detached);
  io.run();
  EXPECT_TRUE(status.exited) << status.describe();
  DWORD flags = 0;
  EXPECT_TRUE(::GetHandleInformation(read_end, &flags)) << "the caller's handle was closed";
  EXPECT_EQ(flags & HANDLE_FLAG_INHERIT, 0u);
  ::CloseHandle(read_end);
}

// The environment a child printed; under Wine without what Wine adds to
// every process's (WINE*, SystemDrive, SystemRoot), which the block we gave
// does not hold: Windows adds nothing.
std::vector<std::string> environment_of(const std::string& out) {
  auto lines = split(out, '\n');
  if (!running_under_wine()) return lines;
  std::erase_if(lines, [](const std::string& l) {
    return l.starts_with("WINE") || l.starts_with("SystemDrive=") || l.starts_with("SystemRoot=");
  });
  return lines;
}

TEST(WindowsLaunch, EnvironmentIsExactlyTheSpecsSortedWithoutCase) {
  auto spec = spec_for({"env"});
  spec.env = {"b_second=2", "C_third=x y", "A_first=1", "unicode=\xc3\xa9t\xc3\xa9"};
  auto r = run(spec);
  EXPECT_EQ(environment_of(r.out),
            (std::vector<std::string>{"A_first=1", "b_second=2", "C_third=x y",
                                      "unicode=\xc3\xa9t\xc3\xa9"}));
  // In the order given (Wine puts its own after it).
  EXPECT_TRUE(r.out.starts_with("A_first=1\nb_second=2\nC_third=x y\n")) << r.out;
}

TEST(WindowsLaunch, EmptyEnvironment) {
  auto r = run(spec_for({"env"}));
  EXPECT_EQ(environment_of(r.out), std::vector<std::string>{});
  EXPECT_EQ(r.status.code, 0);
}

TEST(WindowsLaunch, WorkingDirectory) {
  auto dir = std::filesystem::temp_directory_path() / "cgihost launch test";
  std::filesystem::create_directories(dir);
  auto spec = spec_for({"cwd"});
  spec.working_dir = dir.string();
  auto r = run(spec);
  std::filesystem::remove(dir);
  auto want = dir.string();
  if (!want.empty() && want.back() == '\\') want.pop_back();
  EXPECT_EQ(r.out, want + "\n");
}

TEST(WindowsLaunch, CommandLineQuoting) {
  auto line = [](std::vector<std::string> argv) {
    return windows_command_line(argv).value_or("?");
  };
  EXPECT_EQ(line({"a.exe", "plain", "two words", ""}), "a.exe plain \"two words\" \"\"");
  EXPECT_EQ(line({"a.exe", "say \"hi\""}), "a.exe \"say \\\"hi\\\"\"");
  EXPECT_EQ(line({"a.exe", "C:\\dir\\", "C:\\a b\\"}), "a.exe C:\\dir\\ \"C:\\a b\\\\\"");
  EXPECT_EQ(line({"a.exe", "back\\\\\"quote"}), "a.exe \"back\\\\\\\\\\\"quote\"");
  EXPECT_EQ(line({"C:\\Program Files\\x.exe", "tab\there"}),
            "\"C:\\Program Files\\x.exe\" \"tab\there\"");
  EXPECT_FALSE(windows_command_line({}));
  EXPECT_FALSE(windows_command_line({"a\"b.exe"}));
  EXPECT_FALSE(windows_command_line({"a.exe", std::string("nul\0here", 8)}));
}

const std::vector<std::string> kHardArgs = {"plain",
                                            "two words",
                                            "",
                                            "say \"hi\"",
                                            "trailing\\",
                                            "trailing space\\",
                                            "\\\\server\\share\\",
                                            "back\\\\\"quote",
                                            "tab\there",
                                            "\"",
                                            "\\",
                                            "\xc3\xa9t\xc3\xa9 \xe2\x82\xac"};

TEST(WindowsLaunch, ArgvRoundTripThroughCommandLineToArgvW) {
  auto spec = spec_for({"argv"});
  spec.argv[0] = "my child";  // argv[0] need not be the program
  spec.argv.insert(spec.argv.end(), kHardArgs.begin(), kHardArgs.end());
  auto r = run(spec);
  EXPECT_EQ(split(r.out, '\0'), spec.argv);
}

TEST(WindowsLaunch, ArgvRoundTripThroughTheCRuntime) {
  // main()'s argv (ANSI): the ASCII arguments.
  auto spec = spec_for({"crt-argv"});
  spec.argv.insert(spec.argv.end(), kHardArgs.begin(), kHardArgs.end() - 1);
  auto r = run(spec);
  EXPECT_EQ(split(r.out, '\0'), spec.argv);
}

TEST(WindowsLaunch, OnlyItsOwnHandlesAreInherited) {
  // An inheritable handle of this process, its value told to the child.
  SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  ASSERT_TRUE(::CreatePipe(&read_end, &write_end, &inherit, 0));
  char hex[32];
  std::snprintf(hex, sizeof hex, "%llx",
                static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(write_end)));
  auto r = run(spec_for({"handle", hex}));
  EXPECT_EQ(r.out, "invalid\n");
  DWORD available = 1;
  EXPECT_TRUE(::PeekNamedPipe(read_end, nullptr, 0, nullptr, &available, nullptr));
  EXPECT_EQ(available, 0u) << "the child wrote to a handle it must not have";
  ::CloseHandle(write_end);
  ::CloseHandle(read_end);
}

// The pid the child printed on its first line, opened to be waited for.
asio::awaitable<HANDLE> grandchild_of(child& c) {
  asio::streambuf buf;
  co_await asio::async_read_until(c.stdout_pipe(), buf, '\n', asio::use_awaitable);
  std::istream in(&buf);
  DWORD pid = 0;
  in >> pid;
  co_return ::OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
}

TEST(WindowsLaunch, EndingTheJobEndsAGrandchild) {
  HANDLE g = nullptr;
  exit_status st;
  run_with_child(spec_for({"grandchild", "stay"}), [&](child& c) -> asio::awaitable<void> {
    g = co_await grandchild_of(c);
    c.end_group_now();
    st = co_await c.wait();
  });
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(st.killed_by_signal());
  EXPECT_EQ(st.describe(), "ended with its job");
  EXPECT_EQ(::WaitForSingleObject(g, 10000), WAIT_OBJECT_0) << "the grandchild outlived the job";
  ::CloseHandle(g);
}

TEST(WindowsLaunch, ClosingTheJobEndsAGrandchildOfAChildThatExited) {
  launch_error error;
  auto launched = launch(spec_for({"grandchild"}), error);
  ASSERT_TRUE(launched) << error.message();
  asio::io_context io;
  auto c = std::make_unique<child>(io.get_executor(), *launched);
  HANDLE g = nullptr;
  exit_status st;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        g = co_await grandchild_of(*c);
        st = co_await c->wait();
      },
      asio::detached);
  io.run_for(20s);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(st.describe(), "exit 0");
  EXPECT_EQ(::WaitForSingleObject(g, 0), static_cast<DWORD>(WAIT_TIMEOUT)) << "it should still run";
  c.reset();  // the last handle to the job: KILL_ON_JOB_CLOSE
  EXPECT_EQ(::WaitForSingleObject(g, 10000), WAIT_OBJECT_0) << "the grandchild outlived the job";
  ::CloseHandle(g);
}

TEST(WindowsLaunch, AChildEndsWhenItsStarterIsKilled) {
  // cgihost killed (TerminateProcess: no destructor runs): its handles to
  // its children's jobs close, and KILL_ON_JOB_CLOSE ends them.
  wchar_t self[MAX_PATH];
  ASSERT_GT(::GetModuleFileNameW(nullptr, self, MAX_PATH), 0u);
  launch_spec spec;
  spec.program = std::filesystem::path(self).string();
  spec.argv = {spec.program};
  spec.env = {"CGIHOST_TEST_HELPER=parent", system_root()};
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  asio::io_context io;
  child starter(io.get_executor(), *launched);
  std::string line;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::streambuf buf;
        co_await asio::async_read_until(starter.stdout_pipe(), buf, '\n', asio::use_awaitable);
        std::getline(std::istream(&buf), line);
      },
      asio::detached);
  io.run_for(20s);
  ASSERT_FALSE(line.empty() || line.starts_with("failed")) << line;
  HANDLE grandchild = ::OpenProcess(SYNCHRONIZE, FALSE, std::stoul(line));
  ASSERT_NE(grandchild, nullptr);
  EXPECT_EQ(::WaitForSingleObject(grandchild, 0), static_cast<DWORD>(WAIT_TIMEOUT));
  // The starter alone, not its job (which holds the grandchild too).
  ASSERT_TRUE(::TerminateProcess(launched->process, 1));
  EXPECT_EQ(::WaitForSingleObject(grandchild, 10000), WAIT_OBJECT_0)
      << "the child outlived the process that started it";
  ::CloseHandle(grandchild);
}

TEST(WindowsLaunch, TerminateEndsAtOnceAndTryWaitSeesIt) {
  exit_status st;
  run_with_child(spec_for({"sleep"}), [&](child& c) -> asio::awaitable<void> {
    EXPECT_FALSE(c.try_wait());
    const auto start = std::chrono::steady_clock::now();
    st = co_await c.terminate(5s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s) << "it waited out the grace";
    EXPECT_TRUE(c.exited());
    auto again = c.try_wait();
    EXPECT_TRUE(again && again->killed_by_signal());
  });
  EXPECT_TRUE(st.killed_by_signal());
}

TEST(WindowsLaunch, AProcessLimitOfTheJob) {
  auto spec = spec_for({"spawn", "3"});
  spec.limits.processes = 1;  // the child itself
  auto r = run(spec);
  if (r.out.starts_with("started 3") && running_under_wine())
    GTEST_SKIP() << "Wine does not enforce JOB_OBJECT_LIMIT_ACTIVE_PROCESS (" << r.out << ")";
  EXPECT_TRUE(r.out.starts_with("started 0 ")) << r.out;
}

TEST(WindowsLaunch, AMemoryLimitOfTheJob) {
  auto spec = spec_for({"alloc", "256"});
  spec.limits.address_space = 64ull << 20;
  auto r = run(spec);
  if (r.out == "ok\n" && running_under_wine())
    GTEST_SKIP() << "Wine does not enforce JOB_OBJECT_LIMIT_PROCESS_MEMORY";
  EXPECT_TRUE(r.out.starts_with("failed")) << r.out;
  // Within the limit it is given.
  spec.argv.back() = "16";
  EXPECT_EQ(run(spec).out, "ok\n");
}

TEST(WindowsLaunch, TheJobHoldsTheLimitsAsMapped) {
  auto spec = spec_for({"sleep"});
  spec.limits = {64ull << 20, 3, 100, 4};  // address space, cpu seconds, open files, processes
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  asio::io_context io;
  child c(io.get_executor(), *launched);  // ends it when the test ends
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info{};
  ASSERT_TRUE(::QueryInformationJobObject(launched->job, JobObjectExtendedLimitInformation, &info,
                                          sizeof info, nullptr));
  const auto& basic = info.BasicLimitInformation;
  if (basic.LimitFlags == 0 && running_under_wine())
    GTEST_SKIP() << "Wine does not report a job's limits";
  EXPECT_TRUE(basic.LimitFlags & JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE);
  EXPECT_TRUE(basic.LimitFlags & JOB_OBJECT_LIMIT_PROCESS_MEMORY);
  EXPECT_EQ(info.ProcessMemoryLimit, 64u << 20);
  EXPECT_TRUE(basic.LimitFlags & JOB_OBJECT_LIMIT_PROCESS_TIME);
  EXPECT_EQ(basic.PerProcessUserTimeLimit.QuadPart, 30'000'000);
  EXPECT_TRUE(basic.LimitFlags & JOB_OBJECT_LIMIT_ACTIVE_PROCESS);
  EXPECT_EQ(basic.ActiveProcessLimit, 4u);
}

TEST(WindowsLaunch, ACpuTimeLimitOfTheJob) {
  // Skipped before it spends its CPU time: a 2.5 s spin under a limit of
  // 1 s ran to its end under Wine 8.
  if (running_under_wine()) GTEST_SKIP() << "Wine does not enforce JOB_OBJECT_LIMIT_PROCESS_TIME";
  auto spec = spec_for({"spin", "2500"});
  spec.limits.cpu_seconds = 1;
  auto r = run(spec);
  EXPECT_NE(r.status.describe(), "exit 0") << "it had 2.5 s of CPU time under a limit of 1 s";
}

TEST(WindowsLaunch, AListeningSocketAsStdin) {
  // FCGI_LISTENSOCK's model: the child accepts on its standard input, and
  // inherits nothing else.
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto spec = spec_for({"accept"});
  spec.stdin_fd = reinterpret_cast<native_handle>(static_cast<SOCKET>(acceptor.native_handle()));
  spec.env = {system_root()};
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  child c(io.get_executor(), *launched);
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  std::string got(5, '\0');
  boost::system::error_code ec;
  asio::read(client, asio::buffer(got), ec);
  EXPECT_EQ(got, "hello") << ec.message();
  exit_status st;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { st = co_await c.wait(); }, asio::detached);
  io.run_for(20s);
  EXPECT_EQ(st.describe(), "exit 0");
  EXPECT_TRUE(acceptor.is_open());  // ours is still ours
}

TEST(WindowsLaunch, AnInheritedShutdownEventEndsAFastCgiResponder) {
  // IIS's way of ending php-cgi.exe: an event it inherits, named in
  // _FCGI_SHUTDOWN_EVENT_ (launch_spec::inherit), on a listening socket.
  SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
  HANDLE event = ::CreateEventW(&inherit, TRUE, FALSE, nullptr);
  ASSERT_NE(event, nullptr);
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  launch_spec spec;
  spec.program = kResponder;
  spec.argv = {kResponder};
  spec.stdin_fd = reinterpret_cast<native_handle>(static_cast<SOCKET>(acceptor.native_handle()));
  spec.env = {system_root(),
              "_FCGI_SHUTDOWN_EVENT_=" + std::to_string(reinterpret_cast<std::uintptr_t>(event))};
  spec.inherit = {event};
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  child c(io.get_executor(), *launched);
  EXPECT_EQ(::WaitForSingleObject(launched->process, 300), static_cast<DWORD>(WAIT_TIMEOUT))
      << "it ended before it was asked to";
  ::SetEvent(event);
  exit_status st;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { st = co_await c.wait(); }, asio::detached);
  io.run_for(20s);
  EXPECT_EQ(st.describe(), "exit 0");
  ::CloseHandle(event);
}

// Reads exactly `n` bytes from a synchronous handle.
bool read_exactly(HANDLE h, char* into, DWORD n) {
  while (n > 0) {
    DWORD got = 0;
    if (!::ReadFile(h, into, n, &got, nullptr) || got == 0) return false;
    into += got;
    n -= got;
  }
  return true;
}

TEST(WindowsLaunch, ANamedPipeServerAsStdinServesAFastCgiRequest) {
  // libfcgi's Windows convention: a pipe instance in listening state as
  // standard input; the responder connects it, and we are its client.
  const std::wstring name =
      L"\\\\.\\pipe\\cgihost-launch-test-" + std::to_wstring(::GetCurrentProcessId());
  HANDLE server = ::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                     PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 65536,
                                     65536, 0, nullptr);
  ASSERT_NE(server, INVALID_HANDLE_VALUE);
  launch_spec spec;
  spec.program = kResponder;
  spec.argv = {kResponder};
  spec.stdin_fd = server;
  spec.env = {system_root()};
  launch_error error;
  auto launched = launch(spec, error);
  ASSERT_TRUE(launched) << error.message();
  asio::io_context io;
  child c(io.get_executor(), *launched);
  HANDLE client = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                                OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(client, INVALID_HANDLE_VALUE);
  // BEGIN_REQUEST (responder, no keep-conn), empty PARAMS, empty STDIN.
  const char request[] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                          1, 4, 0, 1, 0, 0, 0, 0, 1, 5, 0, 1, 0, 0, 0, 0};
  DWORD n = 0;
  ASSERT_TRUE(::WriteFile(client, request, sizeof request, &n, nullptr));
  std::string out;
  for (char head[8]; read_exactly(client, head, 8);) {
    const DWORD length =
        (static_cast<unsigned char>(head[4]) << 8) | static_cast<unsigned char>(head[5]);
    std::string body(length + static_cast<unsigned char>(head[6]), '\0');
    if (!read_exactly(client, body.data(), static_cast<DWORD>(body.size()))) break;
    if (head[1] == 6) out += body.substr(0, length);  // STDOUT
    if (head[1] == 3) break;                          // END_REQUEST
  }
  ::CloseHandle(client);
  EXPECT_NE(out.find("PID=" + std::to_string(launched->pid)), std::string::npos) << out;
  c.end_group_now();
  ::CloseHandle(server);
}

TEST(WindowsLaunch, AsUserWithAPrimaryToken) {
  // CreateProcessAsUserW's wiring, with a primary token of this process's
  // own user (the one token a test may use everywhere). Which user the
  // child runs as is not checked: Wine ignores the token (see the notes).
  HANDLE own = nullptr, primary = nullptr;
  ASSERT_TRUE(::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own));
  ASSERT_TRUE(::DuplicateTokenEx(own, TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation,
                                 TokenPrimary, &primary));
  ::CloseHandle(own);
  auto spec = spec_for({"exit", "5"});
  identity me;
  me.name = current_account().name;
  me.token = std::shared_ptr<void>(primary, [](void* h) { ::CloseHandle(h); });
  spec.as = me;
  auto r = run(spec);
  EXPECT_EQ(r.status.describe(), "exit 5");
}

TEST(WindowsLaunch, ABogusTokenFailsWithAnError) {
  auto spec = spec_for({"exit", "0"});
  identity bogus;
  bogus.name = "nobody";
  bogus.token = std::shared_ptr<void>(reinterpret_cast<void*>(0xdeadbeef), [](void*) {});
  spec.as = bogus;
  launch_error error;
  auto launched = launch(spec, error);
  EXPECT_FALSE(launched) << "success with pid " << (launched ? launched->pid : 0);
  EXPECT_EQ(error.step, launch_step::create_process);
  EXPECT_NE(error.code.value(), 0);
  EXPECT_FALSE(error.message().empty());
}

TEST(WindowsLaunch, AMissingProgramFailsWithItsError) {
  auto spec = spec_for({"exit", "0"});
  spec.program = kChild + ".missing";
  launch_error error;
  EXPECT_FALSE(launch(spec, error));
  EXPECT_EQ(error.step, launch_step::create_process);
  EXPECT_TRUE(error.code.value() == ERROR_FILE_NOT_FOUND ||
              error.code.value() == ERROR_PATH_NOT_FOUND)
      << error.message();
}

TEST(WindowsLaunch, AQuoteInArgvZeroIsRefused) {
  auto spec = spec_for({"exit", "0"});
  spec.argv[0] = "a\"b";
  launch_error error;
  EXPECT_FALSE(launch(spec, error));
  EXPECT_EQ(error.step, launch_step::command_line);
}

TEST(WindowsLaunch, ExitWatchSeesTheEnd) {
  launch_error error;
  auto launched = launch(spec_for({"sleep"}), error);
  ASSERT_TRUE(launched) << error.message();
  asio::io_context io;
  child c(io.get_executor(), *launched);
  HANDLE seen = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  {
    exit_watch watch(c.pid(), [seen] { ::SetEvent(seen); });
    EXPECT_EQ(::WaitForSingleObject(seen, 0), static_cast<DWORD>(WAIT_TIMEOUT));
    c.end_group_now();
    EXPECT_EQ(::WaitForSingleObject(seen, 10000), WAIT_OBJECT_0);
  }
  ::CloseHandle(seen);
}

TEST(WindowsThisProcess, WhoAndWhat) {
  auto me = current_account();
  EXPECT_TRUE(me.sid.starts_with("S-1-")) << me.sid;
  EXPECT_NE(me.name.find('\\'), std::string::npos) << me.name;
  EXPECT_EQ(this_process_id(), ::GetCurrentProcessId());
  EXPECT_FALSE(can_switch_accounts());
  std::string why;
  EXPECT_FALSE(drop_privileges(identity{}, why));
  EXPECT_NE(why.find("not applicable"), std::string::npos) << why;
}

TEST(WindowsBroker, IsNotAvailableAndSaysSo) {
  std::string error;
  EXPECT_EQ(broker::start({}, error), nullptr);
  EXPECT_NE(error.find("not available"), std::string::npos) << error;
  // start_child without one is launch().
  launch_error lerr;
  auto launched = start_child(nullptr, spec_for({"exit", "3"}), lerr);
  ASSERT_TRUE(launched) << lerr.message();
  asio::io_context io;
  child c(io.get_executor(), *launched);
  exit_status st;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { st = co_await c.wait(); }, asio::detached);
  io.run_for(20s);
  EXPECT_EQ(st.describe(), "exit 3");
}

TEST(WindowsSubreaper, SweepsNothing) {
  std::string error;
  auto r = subreaper::start(error);
  ASSERT_NE(r, nullptr) << error;
  EXPECT_EQ(subreaper::start(error), r);
  r->sweep_now();
  EXPECT_EQ(r->ended(), 0u);
}

}  // namespace
}  // namespace cgihost::spawner
