# The dependencies of the Windows cross-build (the `windows` preset), made
# from Debian's packages: Boost (headers only: Asio, Beast, Process v2),
# toml++, spdlog and fmt (header-only), CLI11, and GoogleTest built from its
# sources. They get the names find_package gives them on Linux, so the rest
# of the tree links the same targets on both platforms.
#
# The host's headers are reached through a folder of symbolic links, never
# through /usr/include itself, whose glibc headers must not be seen.

set(CGIHOST_HOST_INCLUDE /usr/include CACHE PATH "The build machine's folder holding boost/, toml++/, spdlog/, fmt/ and CLI/")
set(CGIHOST_GTEST_SOURCE /usr/src/googletest CACHE PATH "GoogleTest's sources (Debian's googletest package)")

set(_shim ${CMAKE_BINARY_DIR}/win-include)
set(_overlay ${CMAKE_BINARY_DIR}/win-overlay)
file(MAKE_DIRECTORY ${_shim} ${_overlay}/boost/process/v2)
foreach(d boost toml++ spdlog fmt CLI)
  if(NOT EXISTS ${_shim}/${d})
    file(CREATE_LINK ${CGIHOST_HOST_INCLUDE}/${d} ${_shim}/${d} SYMBOLIC)
  endif()
endforeach()
# Boost 1.81's Process v2 includes <Windows.h>: the name as Windows spells it.
file(WRITE ${_shim}/Windows.h "#pragma once\n#include <windows.h>\n")
# Boost 1.81's process_environment does not compile for Windows (fixed in
# 1.83 by boostorg/process#307): a copy of the header with the fix, found
# before the original.
file(READ ${CGIHOST_HOST_INCLUDE}/boost/process/v2/environment.hpp _env)
string(REPLACE "build_env(sv,  \"\")" "build_env(sv)" _env "${_env}")
string(REPLACE "build_env(sv, L\"\")" "build_env(sv)" _env "${_env}")
file(WRITE ${_overlay}/boost/process/v2/environment.hpp "${_env}")

add_library(cgihost_windows_headers INTERFACE)
target_include_directories(cgihost_windows_headers SYSTEM INTERFACE ${_overlay} ${_shim})
target_compile_definitions(cgihost_windows_headers INTERFACE
  _WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN NOMINMAX UNICODE _UNICODE)
# bcrypt: Asio's pipes name themselves with BCryptGenRandom.
target_link_libraries(cgihost_windows_headers INTERFACE ws2_32 mswsock advapi32 bcrypt userenv)

foreach(t Boost::headers tomlplusplus::tomlplusplus CLI11::CLI11)
  add_library(${t} INTERFACE IMPORTED)
  set_target_properties(${t} PROPERTIES INTERFACE_LINK_LIBRARIES cgihost_windows_headers)
endforeach()
add_library(spdlog::spdlog INTERFACE IMPORTED)
set_target_properties(spdlog::spdlog PROPERTIES
  INTERFACE_LINK_LIBRARIES cgihost_windows_headers
  INTERFACE_COMPILE_DEFINITIONS "SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY")

if(CGIHOST_TESTS)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  add_subdirectory(${CGIHOST_GTEST_SOURCE} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
endif()
