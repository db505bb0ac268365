// The front end's pipe client (spawner/windows/broker.cpp) against a pipe
// this test serves itself, so it can misbehave: a server of an unexpected
// account is refused before anything is sent, and a server that never
// answers fails the launch after the reply timeout (step broker), closes
// that lane and connects it again on its next use.
#include <gtest/gtest.h>
#include <windows.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>

#include "spawner/broker.hpp"
#include "spawner/launch.hpp"
#include "spawner/this_process.hpp"
#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner {
namespace {
using namespace std::chrono_literals;

// A message-mode pipe instance of `name`, waiting for a client.
struct pipe_instance {
  HANDLE h = INVALID_HANDLE_VALUE;
  explicit pipe_instance(const std::string& name) {
    h = ::CreateNamedPipeW(win32::wide(broker::pipe_name(name)).c_str(),
                           PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                           PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4, 65536, 65536, 0, nullptr);
  }
  ~pipe_instance() {
    if (h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
  }
  // Whether a client has connected to this instance (and maybe gone again:
  // ERROR_NO_DATA).
  bool connected() const {
    OVERLAPPED ov{};
    ov.hEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    const BOOL ok = ::ConnectNamedPipe(h, &ov);
    const DWORD e = ::GetLastError();
    if (!ok && e == ERROR_IO_PENDING) ::CancelIoEx(h, &ov);
    DWORD n = 0;
    if (!ok && e == ERROR_IO_PENDING) ::GetOverlappedResult(h, &ov, &n, TRUE);
    ::CloseHandle(ov.hEvent);
    return ok || e == ERROR_PIPE_CONNECTED || e == ERROR_NO_DATA;
  }
};

std::string unique_name() { return "cgihost-client-" + std::to_string(std::random_device{}()); }

TEST(BrokerClientTest, APipeServedByAnotherAccountIsRefused) {
  const std::string name = unique_name();
  pipe_instance server(name);
  ASSERT_NE(server.h, INVALID_HANDLE_VALUE) << ::GetLastError();
  std::string error;
  auto b = broker::connect(name, error, 1, "NT AUTHORITY\\SYSTEM");
  EXPECT_FALSE(b) << "a pipe served by this test's account, not LocalSystem";
  const auto me = current_account();
  EXPECT_NE(error.find("served by pid " + std::to_string(::GetCurrentProcessId()) + " running as " +
                       me.name + ", not as NT AUTHORITY\\SYSTEM"),
            std::string::npos)
      << error;
}

TEST(BrokerClientTest, APipeServedByTheExpectedAccountIsUsed) {
  const std::string name = unique_name();
  pipe_instance server(name);
  ASSERT_NE(server.h, INVALID_HANDLE_VALUE) << ::GetLastError();
  std::string error;
  auto b = broker::connect(name, error, 1, current_account().name);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->pid(), ::GetCurrentProcessId());
  EXPECT_TRUE(server.connected());
}

TEST(BrokerClientTest, AServiceThatDoesNotAnswerFailsTheLaunchAndItsLaneIsConnectedAgain) {
  const std::string name = unique_name();
  pipe_instance first(name);
  ASSERT_NE(first.h, INVALID_HANDLE_VALUE) << ::GetLastError();
  std::string error;
  auto b = broker::connect(name, error, 1, current_account().name);
  ASSERT_TRUE(b) << error;
  b->set_reply_timeout(300ms);
  launch_spec spec;
  spec.program = "C:\\windows\\system32\\cmd.exe";
  spec.argv = {"cmd.exe"};
  launch_error le;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(b->launch(spec, le)) << "nothing answers";
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 10s) << "the reply's wait is bounded";
  EXPECT_EQ(le.step, launch_step::broker);
  EXPECT_EQ(le.code, std::make_error_code(std::errc::timed_out));
  EXPECT_NE(le.detail.find("did not answer within 300 ms"), std::string::npos) << le.detail;
  // The next launch connects a new lane (to a second instance), which
  // does not answer either.
  pipe_instance second(name);
  ASSERT_NE(second.h, INVALID_HANDLE_VALUE) << ::GetLastError();
  launch_error again;
  EXPECT_FALSE(b->launch(spec, again));
  EXPECT_EQ(again.step, launch_step::broker);
  EXPECT_NE(again.detail.find("did not answer within"), std::string::npos) << again.detail;
  EXPECT_TRUE(second.connected()) << "the closed lane was connected again";
}

}  // namespace
}  // namespace cgihost::spawner
