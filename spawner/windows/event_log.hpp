#pragma once
// The spawner service's lines in the Windows event log (Application log,
// event source = the service's name), beside its error log: its warnings
// and errors, and under the service manager the start-up errors (a config
// that does not load) that no console shows. No message file is
// registered: Event Viewer shows each event's text as its one insertion
// string. Wine's event log is a stub (ReportEventW does nothing visible):
// the tests check the mapping and the text, which are pure.

#include <windows.h>

#include <string>

#include "spawner/windows/service.hpp"

namespace cgihost::spawner::service {

// The event type of a line of level `l`: EVENTLOG_WARNING_TYPE,
// EVENTLOG_ERROR_TYPE; 0 for info (not reported: the error log has it).
WORD event_type(level l);

// An event's text for the line `text` of the service `source`:
// "cgihost spawner service SOURCE: TEXT", as UTF-16, cut to 31,839
// characters (ReportEventW's limit for one string) with "..." at the end
// when longer.
std::wstring event_text(const std::string& source, const std::string& text);

// The event source `source`, registered (RegisterEventSourceW) while it
// lives. report() is a no-op when it could not be registered or for info
// lines; any thread.
class event_log {
 public:
  explicit event_log(const std::string& source);
  ~event_log();
  event_log(const event_log&) = delete;
  event_log& operator=(const event_log&) = delete;

  // Reports `text` with the type of `l`; false when nothing was written
  // (info, no source, or ReportEventW failed).
  bool report(level l, const std::string& text) const;

 private:
  std::string source_;
  HANDLE handle_ = nullptr;
};

}  // namespace cgihost::spawner::service
