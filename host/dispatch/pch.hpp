#pragma once
// Precompiled for host/: the heavy headers most of its files need.
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
