// spawner/files.hpp and spawner/identity.hpp on Windows (run under Wine by
// ctest --preset windows): files beneath a root and the names Windows would
// not take at their word, file facts, the body spool, accounts, and
// AccessCheck. What Wine cannot do (make reparse points, keep a file's DACL,
// log on) is skipped there with the reason, and runs on real Windows.

#include <aclapi.h>
#include <gtest/gtest.h>
#include <sddl.h>
#include <windows.h>
#include <winioctl.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "spawner/files.hpp"
#include "spawner/identity.hpp"
#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner {
namespace {

std::wstring temp_folder() {
  wchar_t dir[MAX_PATH + 1];
  GetTempPathW(MAX_PATH + 1, dir);
  return dir;
}

void write_file(const std::wstring& path, const std::string& bytes) {
  HANDLE h = CreateFileW(path.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, 0, nullptr);
  ASSERT_NE(h, INVALID_HANDLE_VALUE) << win32::narrow(path);
  DWORD n = 0;
  WriteFile(h, bytes.data(), static_cast<DWORD>(bytes.size()), &n, nullptr);
  CloseHandle(h);
}

std::string read_all(native_handle h) {
  std::string out(256, '\0');
  std::error_code ec;
  out.resize(read_at(h, 0, out.data(), out.size(), ec));
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

// A folder of its own, removed afterwards: root\{a.txt, sub\b.txt,
// LongFileName.php, prog.exe} beside outside.txt.
class WindowsBeneath : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = temp_folder() + L"cgihost-beneath-" + std::to_wstring(GetCurrentProcessId()) + L"-" +
            std::to_wstring(GetTickCount64());
    root_ = base_ + L"\\root";
    ASSERT_TRUE(CreateDirectoryW(base_.c_str(), nullptr));
    ASSERT_TRUE(CreateDirectoryW(root_.c_str(), nullptr));
    ASSERT_TRUE(CreateDirectoryW((root_ + L"\\sub").c_str(), nullptr));
    write_file(root_ + L"\\a.txt", "a");
    write_file(root_ + L"\\sub\\b.txt", "b");
    write_file(root_ + L"\\LongFileName.php", "<?php source");
    write_file(root_ + L"\\prog.exe", "MZ");
    write_file(base_ + L"\\outside.txt", "x");
    root_fd_.reset(open_folder(root_));
    ASSERT_NE(root_fd_.get(), no_handle);
  }
  void TearDown() override {
    root_fd_.reset();
    std::error_code ec;
    std::filesystem::remove_all(base_, ec);
  }

  // open_beneath's errno, or 0 when it opened.
  int open_error(const char* relative, open_for mode = open_for::read) {
    errno = 0;
    unique_fd fd(open_beneath(root_fd_.get(), relative, mode));
    return fd.get() == no_handle ? errno : 0;
  }

  std::wstring base_, root_;
  unique_fd root_fd_;
};

TEST_F(WindowsBeneath, OpensWhatIsBeneath) {
  unique_fd a(open_beneath(root_fd_.get(), "a.txt", open_for::read));
  ASSERT_NE(a.get(), no_handle);
  EXPECT_EQ(read_all(a.get()), "a");
  unique_fd b(open_beneath(root_fd_.get(), "sub/b.txt", open_for::read));
  ASSERT_NE(b.get(), no_handle);
  EXPECT_EQ(read_all(b.get()), "b");
  EXPECT_EQ(open_error("sub/"), 0);
  EXPECT_EQ(open_error("."), 0);
  EXPECT_EQ(open_error("./sub//b.txt"), 0);
  EXPECT_EQ(open_error("missing.txt"), ENOENT);
  EXPECT_EQ(open_error("a.txt/"), ENOTDIR);
  EXPECT_EQ(open_error("a.txt/x"), ENOTDIR);
  bool via = true;
  unique_fd plain(open_beneath_noting_symlinks(root_fd_.get(), "sub/b.txt", via));
  ASSERT_NE(plain.get(), no_handle);
  EXPECT_FALSE(via);
}

TEST_F(WindowsBeneath, NeverLeavesTheRoot) {
  EXPECT_EQ(open_error("../outside.txt"), EXDEV);
  EXPECT_EQ(open_error("sub/../a.txt"), EXDEV);  // ".." is refused outright
  EXPECT_EQ(open_error("/Windows/win.ini"), EXDEV);
  EXPECT_EQ(open_error("\\Windows\\win.ini"), EXDEV);
  EXPECT_NE(open_error("C:/Windows/win.ini"), 0);
  EXPECT_NE(open_error("sub\\..\\..\\outside.txt"), 0);
  EXPECT_EQ(open_error(""), ENOENT);
}

// Each name opens the file through Win32 (so a handler chosen by the name
// would serve a script's source), and is refused beneath a root.
TEST_F(WindowsBeneath, RefusesNamesWindowsDoesNotTakeAtTheirWord) {
  for (const char* name : {"LongFileName.php::$DATA", "LongFileName.php.", "LongFileName.php "}) {
    HANDLE h = CreateFileW((root_ + L"\\" + win32::wide(name)).c_str(), GENERIC_READ,
                           FILE_SHARE_READ, nullptr, OPEN_EXISTING, 0, nullptr);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    if (!win32::under_wine()) {
      EXPECT_NE(h, INVALID_HANDLE_VALUE) << name;
    }
    EXPECT_EQ(open_error(name), ENOENT) << name;
    EXPECT_EQ(open_error(name, open_for::look), ENOENT) << name;
  }
  for (const char* name :
       {"LongFileName.php:$DATA", "sub::$INDEX_ALLOCATION/b.txt", "LongFileName.php. .",
        "sub\\b.txt", "CON", "nul.txt", "sub/aux.php", "COM1.php", "LPT1", "LongFileName.ph?",
        "LongFileName.ph<", "LongFileName.php*"})
    EXPECT_EQ(open_error(name), ENOENT) << name;
}

TEST_F(WindowsBeneath, RefusesShortNames) {
  wchar_t short_path[MAX_PATH] = L"";
  GetShortPathNameW((root_ + L"\\LongFileName.php").c_str(), short_path, MAX_PATH);
  const std::wstring full = short_path;
  const std::wstring name = full.substr(full.rfind(L'\\') + 1);
  if (name.empty() || name == L"LongFileName.php")
    GTEST_SKIP() << "this volume gives no 8.3 short names";
  // Through Win32 the short name is the file ...
  HANDLE h =
      CreateFileW(full.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(h, INVALID_HANDLE_VALUE);
  CloseHandle(h);
  // ... and beneath a root it is no name at all.
  EXPECT_EQ(open_error(win32::narrow(name).c_str()), ENOENT) << win32::narrow(name);
  EXPECT_EQ(open_error("LongFileName.php"), 0);
  // A folder's short name on the way, too.
  ASSERT_TRUE(CreateDirectoryW((root_ + L"\\LongFolderName").c_str(), nullptr));
  write_file(root_ + L"\\LongFolderName\\x.txt", "x");
  GetShortPathNameW((root_ + L"\\LongFolderName").c_str(), short_path, MAX_PATH);
  const std::wstring folder = std::wstring(short_path).substr(full.rfind(L'\\') + 1);
  ASSERT_NE(folder, L"LongFolderName");
  EXPECT_EQ(open_error((win32::narrow(folder) + "/x.txt").c_str()), ENOENT)
      << win32::narrow(folder);
  EXPECT_EQ(open_error("LongFolderName/x.txt"), 0);
}

// NTFS is case-insensitive: /A.TXT is a.txt, as IIS serves it; but the name
// differs from the file's own, which the static handler then judges
// (via_symlink), and path_below gives the real one.
TEST_F(WindowsBeneath, CaseIsServedButNoted) {
  bool via = false;
  unique_fd upper(open_beneath_noting_symlinks(root_fd_.get(), "LONGFILENAME.PHP", via));
  ASSERT_NE(upper.get(), no_handle);
  EXPECT_TRUE(via);
  EXPECT_EQ(path_below(root_fd_.get(), upper.get()),
            std::optional<std::string>("/LongFileName.php"));
}

TEST_F(WindowsBeneath, PathBelow) {
  unique_fd b(open_beneath(root_fd_.get(), "sub/b.txt", open_for::look));
  unique_fd outside(CreateFileW((base_ + L"\\outside.txt").c_str(), GENERIC_READ, FILE_SHARE_READ,
                                nullptr, OPEN_EXISTING, 0, nullptr));
  ASSERT_NE(b.get(), no_handle);
  EXPECT_EQ(path_below(root_fd_.get(), b.get()), std::optional<std::string>("/sub/b.txt"));
  EXPECT_EQ(path_below(root_fd_.get(), outside.get()), std::nullopt);
  EXPECT_EQ(path_below(root_fd_.get(), root_fd_.get()), std::nullopt);
  EXPECT_EQ(path_below(root_fd_.get(), no_handle), std::nullopt);
}

TEST_F(WindowsBeneath, OpenScript) {
  unique_fd look(open_script(root_fd_.get(), "sub/b.txt", false));
  ASSERT_NE(look.get(), no_handle);
  std::error_code ec;
  char c;
  EXPECT_EQ(read_at(look.get(), 0, &c, 1, ec), 0u);  // opened to look at, not to read
  EXPECT_TRUE(ec);
  // allow_symlinks_outside_root: still beneath the names' rules.
  unique_fd leaving(open_script(root_fd_.get(), "sub/b.txt", open_for::read, true));
  ASSERT_NE(leaving.get(), no_handle);
  EXPECT_EQ(read_all(leaving.get()), "b");
  errno = 0;
  EXPECT_EQ(open_script(root_fd_.get(), "LongFileName.php::$DATA", true), no_handle);
  EXPECT_EQ(errno, ENOENT);
}

// Symbolic links and junctions, made by Windows (Wine makes none: its
// CreateSymbolicLinkW reports success and makes nothing, and it has no
// FSCTL_SET_REPARSE_POINT).
TEST_F(WindowsBeneath, ReparsePointsStayBeneath) {
  const DWORD flags = SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE;
  CreateSymbolicLinkW((root_ + L"\\in").c_str(), L"sub\\b.txt", flags);
  CreateSymbolicLinkW((root_ + L"\\out").c_str(), L"..\\outside.txt", flags);
  CreateSymbolicLinkW((root_ + L"\\abs").c_str(), (root_ + L"\\a.txt").c_str(), flags);
  const DWORD attributes = GetFileAttributesW((root_ + L"\\in").c_str());
  if (attributes == INVALID_FILE_ATTRIBUTES || !(attributes & FILE_ATTRIBUTE_REPARSE_POINT))
    GTEST_SKIP() << "no symbolic link was made (Wine's CreateSymbolicLinkW makes none; on "
                    "Windows it needs developer mode or SeCreateSymbolicLinkPrivilege)";
  bool via = false;
  unique_fd in(open_beneath_noting_symlinks(root_fd_.get(), "in", via));
  ASSERT_NE(in.get(), no_handle);
  EXPECT_TRUE(via);
  EXPECT_EQ(read_all(in.get()), "b");
  EXPECT_EQ(path_below(root_fd_.get(), in.get()), std::optional<std::string>("/sub/b.txt"));
  EXPECT_EQ(open_error("out"), EXDEV);
  EXPECT_EQ(open_error("abs"), EXDEV);  // absolute, as RESOLVE_BENEATH refuses them
  unique_fd leaving(open_script(root_fd_.get(), "out", open_for::read, true));
  EXPECT_NE(leaving.get(), no_handle);
}

TEST_F(WindowsBeneath, JunctionsAreNeverFollowed) {
  const std::wstring junction = root_ + L"\\j";
  ASSERT_TRUE(CreateDirectoryW(junction.c_str(), nullptr));
  unique_fd dir(CreateFileW(junction.c_str(), GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                            FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, nullptr));
  ASSERT_NE(dir.get(), no_handle);
  // REPARSE_DATA_BUFFER's mount point form: "\??\<base>" and "<base>".
  const std::wstring target = L"\\??\\" + base_, print = base_;
  std::vector<unsigned char> buf(8 + 8 + (target.size() + print.size() + 2) * 2);
  auto* words = reinterpret_cast<WORD*>(buf.data());
  *reinterpret_cast<DWORD*>(buf.data()) = IO_REPARSE_TAG_MOUNT_POINT;
  words[2] = static_cast<WORD>(buf.size() - 8);
  words[4] = 0;
  words[5] = static_cast<WORD>(target.size() * 2);
  words[6] = static_cast<WORD>((target.size() + 1) * 2);
  words[7] = static_cast<WORD>(print.size() * 2);
  std::memcpy(buf.data() + 16, target.c_str(), (target.size() + 1) * 2);
  std::memcpy(buf.data() + 16 + (target.size() + 1) * 2, print.c_str(), (print.size() + 1) * 2);
  DWORD n = 0;
  if (!DeviceIoControl(dir.get(), FSCTL_SET_REPARSE_POINT, buf.data(),
                       static_cast<DWORD>(buf.size()), nullptr, 0, &n, nullptr))
    GTEST_SKIP() << "no junction was made (FSCTL_SET_REPARSE_POINT: "
                 << win32::message_of(GetLastError()) << ")";
  dir.reset();
  EXPECT_EQ(open_error("j/outside.txt"), EXDEV);
  EXPECT_EQ(open_error("j/root/a.txt"), EXDEV);  // even back into the root
  RemoveDirectoryW(junction.c_str());
}

TEST_F(WindowsBeneath, InfoOf) {
  unique_fd a(CreateFileW((root_ + L"\\a.txt").c_str(), GENERIC_READ | FILE_WRITE_ATTRIBUTES,
                          FILE_SHARE_READ, nullptr, OPEN_EXISTING, 0, nullptr));
  ASSERT_NE(a.get(), no_handle);
  // 2001-09-09 01:46:40.1234567 UTC: Unix time 1000000000 s and 123456700 ns.
  const std::uint64_t ticks = 116444736000000000ull + 10000000000000000ull + 1234567;
  FILETIME when{static_cast<DWORD>(ticks), static_cast<DWORD>(ticks >> 32)};
  ASSERT_TRUE(SetFileTime(a.get(), nullptr, nullptr, &when));
  a.reset(open_beneath(root_fd_.get(), "a.txt", open_for::look));
  std::error_code ec;
  auto info = info_of(a.get(), ec);
  ASSERT_TRUE(info) << ec.message();
  EXPECT_TRUE(info->is_regular());
  EXPECT_EQ(info->size, 1u);
  EXPECT_EQ(info->modified, 1000000000);
  EXPECT_EQ(info->modified_nanoseconds, 123456700u);
  EXPECT_FALSE(info->security.empty());
  EXPECT_FALSE(info->executable_by_someone());
  unique_fd prog(open_beneath(root_fd_.get(), "prog.exe", open_for::look));
  auto program = info_of(prog.get(), ec);
  ASSERT_TRUE(program);
  EXPECT_TRUE(program->executable_by_someone());
  unique_fd sub(open_beneath(root_fd_.get(), "sub", open_for::look));
  auto folder = info_of(sub.get(), ec);
  ASSERT_TRUE(folder);
  EXPECT_TRUE(folder->is_folder());
  EXPECT_FALSE(info_of(no_handle, ec));
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
}

TEST_F(WindowsBeneath, CanReadFolder) {
  EXPECT_FALSE(can_read_folder(root_));
  EXPECT_EQ(can_read_folder(root_ + L"\\nothing"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(can_read_folder(root_ + L"\\a.txt"), std::errc::not_a_directory);
  errno = 0;
  EXPECT_EQ(open_folder(root_ + L"\\nothing"), no_handle);
  EXPECT_EQ(errno, ENOENT);
}

// Wine shows a Unix symbolic link as the file it leads to; only the real
// path of what opened tells where that is. The links are made by CMake
// (tests/windows/CMakeLists.txt): root/{in -> sub/b.txt, out ->
// ../outside.txt, up -> ..}.
TEST(WindowsUnixLinks, WhatOpensOutsideTheRootIsRefused) {
#if defined(CGIHOST_UNIX_LINKS)
  if (!win32::under_wine()) GTEST_SKIP() << "Unix symbolic links: under Wine only";
  std::wstring root = L"Z:" + win32::wide(CGIHOST_UNIX_LINKS "/root");
  for (auto& c : root)
    if (c == L'/') c = L'\\';
  unique_fd root_fd(open_folder(root));
  ASSERT_NE(root_fd.get(), no_handle) << win32::narrow(root);
  bool via = false;
  unique_fd in(open_beneath_noting_symlinks(root_fd.get(), "in", via));
  ASSERT_NE(in.get(), no_handle);
  EXPECT_TRUE(via);  // its own name is sub/b.txt
  EXPECT_EQ(path_below(root_fd.get(), in.get()), std::optional<std::string>("/sub/b.txt"));
  for (const char* path : {"out", "up/outside.txt", "up"}) {
    errno = 0;
    EXPECT_EQ(open_beneath(root_fd.get(), path, open_for::read), no_handle) << path;
    EXPECT_EQ(errno, EXDEV) << path;
  }
  unique_fd leaving(open_script(root_fd.get(), "out", open_for::read, true));
  EXPECT_NE(leaving.get(), no_handle);  // allow_symlinks_outside_root
#else
  GTEST_SKIP() << "built without the Unix links (not cross-built on a Unix host)";
#endif
}

TEST(WindowsSpool, WritesReadsAndVanishes) {
  std::error_code ec;
  spool_file spool = spool_file::create(ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(spool.is_open());
  const std::string first(70000, 'a'), second = "tail";
  EXPECT_FALSE(spool.write_at(0, first.data(), first.size()));
  EXPECT_FALSE(spool.write_at(first.size(), second.data(), second.size()));
  std::string back(first.size() + second.size() + 10, '\0');
  std::size_t total = 0;
  while (true) {
    const std::size_t n = spool.read_at(total, back.data() + total, back.size() - total, ec);
    ASSERT_FALSE(ec) << ec.message();
    if (n == 0) break;
    total += n;
  }
  back.resize(total);
  EXPECT_EQ(back, first + second);
  char c;
  EXPECT_EQ(spool.read_at(total + 100, &c, 1, ec), 0u);  // past the end: end of file
  EXPECT_FALSE(ec);
  // Not inheritable; no one else may open it; gone once closed.
  DWORD handle_flags = 0;
  ASSERT_TRUE(GetHandleInformation(spool.native(), &handle_flags));
  EXPECT_FALSE(handle_flags & HANDLE_FLAG_INHERIT);
  wchar_t name[MAX_PATH + 8] = L"";
  ASSERT_GT(GetFinalPathNameByHandleW(spool.native(), name, MAX_PATH + 8, 0), 0u);
  HANDLE other =
      CreateFileW(name, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                  nullptr, OPEN_EXISTING, 0, nullptr);
  EXPECT_EQ(other, INVALID_HANDLE_VALUE);
  if (other != INVALID_HANDLE_VALUE) CloseHandle(other);
  spool = spool_file();
  EXPECT_EQ(GetFileAttributesW(name), INVALID_FILE_ATTRIBUTES);
}

TEST(WindowsSpool, FailuresAreReported) {
  spool_file none;
  char c = 'x';
  std::error_code ec;
  EXPECT_EQ(none.read_at(0, &c, 1, ec), 0u);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_EQ(none.write_at(0, &c, 1), std::errc::bad_file_descriptor);
}

}  // namespace
}  // namespace cgihost::spawner
