// The spawner service's event log lines. See event_log.hpp.
#include "spawner/windows/event_log.hpp"

#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner::service {

WORD event_type(level l) {
  switch (l) {
    case level::warn:
      return EVENTLOG_WARNING_TYPE;
    case level::error:
      return EVENTLOG_ERROR_TYPE;
    case level::info:
      break;
  }
  return 0;
}

std::wstring event_text(const std::string& source, const std::string& text) {
  constexpr std::size_t kLimit = 31839;
  std::wstring out = win32::wide("cgihost spawner service " + source + ": " + text);
  if (out.size() > kLimit) out = out.substr(0, kLimit - 3) + L"...";
  return out;
}

event_log::event_log(const std::string& source)
    : source_(source), handle_(::RegisterEventSourceW(nullptr, win32::wide(source).c_str())) {}

event_log::~event_log() {
  if (handle_) ::DeregisterEventSource(handle_);
}

bool event_log::report(level l, const std::string& text) const {
  const WORD type = event_type(l);
  if (!handle_ || type == 0) return false;
  const std::wstring line = event_text(source_, text);
  const wchar_t* strings[] = {line.c_str()};
  return ::ReportEventW(handle_, type, 0, 0, nullptr, 1, 0, strings, nullptr) != FALSE;
}

}  // namespace cgihost::spawner::service
