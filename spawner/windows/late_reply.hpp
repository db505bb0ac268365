#pragma once
// The front end's side of a spawn reply that came too late (broker.cpp).
// Inside spawner/ only.

#include <windows.h>

namespace cgihost::spawner::win32 {

// After broker::launch gave up waiting on `pipe`: a reply already in it is
// taken without waiting (take_message) and, when it is a launch_started,
// the handles it names in this process (the child's pipe ends, process and
// job, duplicated in by the service) are closed: the job then ends the child
// (KILL_ON_JOB_CLOSE). How many handles were closed (0: no such reply). A
// reply the service writes after this is not read here: the service sees
// the lane closed and takes those handles back itself (service.cpp, settle).
int drop_late_reply(HANDLE pipe);

}  // namespace cgihost::spawner::win32
