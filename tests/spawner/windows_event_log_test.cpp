// The spawner service's event log lines (spawner/windows/event_log.hpp).
// Wine's event log is a stub (RegisterEventSourceW gives a handle,
// ReportEventW writes nothing anyone can read back): what is tested here is
// the pure part, the level's event type and the event's text; writing one
// is only shown not to fail.
#include <gtest/gtest.h>
#include <windows.h>

#include <string>

#include "spawner/windows/event_log.hpp"

namespace cgihost::spawner::service {
namespace {

TEST(ServiceEventLog, WarningsAndErrorsAreReportedInfoIsNot) {
  EXPECT_EQ(event_type(level::warn), EVENTLOG_WARNING_TYPE);
  EXPECT_EQ(event_type(level::error), EVENTLOG_ERROR_TYPE);
  EXPECT_EQ(event_type(level::info), 0);
}

TEST(ServiceEventLog, TheTextNamesTheServiceAndIsCutToTheLimit) {
  EXPECT_EQ(event_text("cgihost", "refused a pipe client: pid 4"),
            L"cgihost spawner service cgihost: refused a pipe client: pid 4");
  // UTF-8 in, UTF-16 out (an account's name may be anyone's).
  EXPECT_EQ(event_text("s", "J\xc3\xb6rg"), L"cgihost spawner service s: J\u00f6rg");
  const std::wstring cut = event_text("s", std::string(40000, 'x'));
  EXPECT_EQ(cut.size(), 31839u);
  EXPECT_EQ(cut.substr(cut.size() - 3), L"...");
  const std::wstring whole = event_text("s", std::string(31839 - 27, 'x'));  // just fits
  EXPECT_EQ(whole.size(), 31839u);
  EXPECT_EQ(whole.back(), L'x');
}

TEST(ServiceEventLog, AnInfoLineIsNotWrittenAWarningIsTried) {
  event_log log("cgihost-unit-events");
  EXPECT_FALSE(log.report(level::info, "started"));
  // Wine's ReportEventW is a stub; on Windows this writes to the
  // Application log (the source needs no registration to be written).
  log.report(level::warn, "a test's warning");
}

}  // namespace
}  // namespace cgihost::spawner::service
