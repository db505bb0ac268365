// The spawn broker on Windows: not available yet (the privileged spawner is
// to be a Windows service reached over a named pipe, issue 15). start()
// says so and gives none; cgihost then starts every child itself, as itself.
// See broker.hpp.
#include "spawner/broker.hpp"

namespace cgihost::spawner {
namespace {

constexpr const char* kNotAvailable =
    "the privileged spawner is not available on Windows yet: children run as this process";

}  // namespace

std::unique_ptr<broker> broker::start(const std::vector<identity>& /*allowed*/, std::string& error,
                                      unsigned /*lanes*/) {
  error = kNotAvailable;
  return nullptr;
}

broker::~broker() = default;

std::optional<launched_child> broker::launch(const launch_spec& /*spec*/, launch_error& error) {
  error = launch_error{std::make_error_code(std::errc::operation_not_supported),
                       launch_step::broker, kNotAvailable};
  return std::nullopt;
}

bool broker::signal_group(process_id, std::uint64_t, int) { return false; }

std::optional<launched_child> start_child(broker* via, const launch_spec& spec,
                                          launch_error& error) {
  return via ? via->launch(spec, error) : launch(spec, error);
}

std::optional<int> read_status(native_handle, std::chrono::milliseconds) { return std::nullopt; }

}  // namespace cgihost::spawner
