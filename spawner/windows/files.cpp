// spawner/files.hpp for Windows. Files beneath a root are opened one path
// component at a time with NtCreateFile relative to the folder handle opened
// last (the openat of NT), each without following a reparse point
// (FILE_OPEN_REPARSE_POINT): a relative symbolic link that stays beneath the
// root is followed by splicing its target into the path, anything else that
// names another place (a junction, a mount point, an absolute link) is EXDEV,
// as openat2's RESOLVE_BENEATH treats absolute symlinks. Names Windows would
// not take at their word (windows_names.hpp) never reach the file system.
// Last, the opened file's real path (GetFinalPathNameByHandleW) must lie
// beneath the root's: this also catches what the walk cannot see (under Wine
// a Unix symlink is an ordinary file to Windows).
#include "spawner/files.hpp"

#include <aclapi.h>
#include <bcrypt.h>
#include <windows.h>
#include <winioctl.h>
#include <winternl.h>

#include <cerrno>
#include <vector>

#include "spawner/windows/win32_util.hpp"
#include "spawner/windows_names.hpp"

namespace cgihost::spawner {
namespace {

using win32::narrow;
using win32::wide;

constexpr ULONG kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
constexpr int kMaxLinks = 40;  // as Linux's MAXSYMLINKS

// errno from a Win32 error (EIO when it has no POSIX name); returns no_handle.
native_handle fail_with(DWORD error) {
  const int e = win32::errno_of(error);
  errno = e ? e : EIO;
  return no_handle;
}

native_handle fail_errno(int e) {
  errno = e;
  return no_handle;
}

ACCESS_MASK access_for(open_for mode) {
  const ACCESS_MASK look = FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
  return mode == open_for::read ? look | FILE_READ_DATA : look;
}

// Opens `name` (one component, or "" for `dir` itself) relative to the
// folder `dir`, never following a reparse point unless `follow`.
NTSTATUS open_relative(HANDLE dir, const std::wstring& name, ACCESS_MASK access, bool follow,
                       HANDLE& out) {
  UNICODE_STRING us;
  us.Length = us.MaximumLength = static_cast<USHORT>(name.size() * sizeof(wchar_t));
  us.Buffer = const_cast<wchar_t*>(name.c_str());
  OBJECT_ATTRIBUTES oa;
  InitializeObjectAttributes(&oa, &us, OBJ_CASE_INSENSITIVE, dir, nullptr);
  IO_STATUS_BLOCK io{};
  out = no_handle;
  const ULONG options = FILE_SYNCHRONOUS_IO_NONALERT | (follow ? 0 : FILE_OPEN_REPARSE_POINT);
  return NtCreateFile(&out, access | SYNCHRONIZE, &oa, &io, nullptr, 0, kShareAll, FILE_OPEN,
                      options, nullptr, 0);
}

// The real path of an open file ("\\?\C:\www\index.php": long names, real
// case), or "" when the system cannot say.
std::wstring final_path(HANDLE h) {
  std::wstring out(MAX_PATH, L'\0');
  for (int tries = 0; tries < 3; ++tries) {
    const DWORD n = GetFinalPathNameByHandleW(h, out.data(), static_cast<DWORD>(out.size()),
                                              FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
    if (n == 0) return {};
    if (n < out.size()) {
      out.resize(n);
      return out;
    }
    out.resize(n + 1);
  }
  return {};
}

bool iequal(std::wstring_view a, std::wstring_view b) {
  return CompareStringOrdinal(a.data(), static_cast<int>(a.size()), b.data(),
                              static_cast<int>(b.size()), TRUE) == CSTR_EQUAL;
}

// What `file` is below `root` ("a\b.php"), both real paths; nullopt when it
// is not below it (or is `root` itself).
std::optional<std::wstring> below(const std::wstring& root, const std::wstring& file) {
  if (root.empty() || file.size() <= root.size()) return std::nullopt;
  const bool slash_ended = root.back() == L'\\';
  const std::size_t cut = slash_ended ? root.size() : root.size() + 1;
  if (file.size() <= cut || !iequal(std::wstring_view(file).substr(0, root.size()), root) ||
      (!slash_ended && file[root.size()] != L'\\'))
    return std::nullopt;
  return file.substr(cut);
}

// The reparse data of an open reparse point (FSCTL_GET_REPARSE_POINT): the
// relative target of a symbolic link ("sub\b.txt"), or nullopt for anything
// that names another place (a junction, a mount point, an absolute link).
std::optional<std::wstring> relative_link_target(HANDLE h) {
  // REPARSE_DATA_BUFFER (ntifs.h, not in the SDK's headers): the part we read.
  struct symlink_reparse {
    DWORD tag;
    WORD data_length, reserved;
    WORD substitute_offset, substitute_length, print_offset, print_length;
    ULONG flags;
    WCHAR path[1];
  };
  constexpr ULONG kRelative = 1;  // SYMLINK_FLAG_RELATIVE
  std::vector<unsigned char> buf(MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
  DWORD n = 0;
  if (!DeviceIoControl(h, FSCTL_GET_REPARSE_POINT, nullptr, 0, buf.data(),
                       static_cast<DWORD>(buf.size()), &n, nullptr) ||
      n < offsetof(symlink_reparse, path))
    return std::nullopt;
  const auto* r = reinterpret_cast<const symlink_reparse*>(buf.data());
  if (r->tag != IO_REPARSE_TAG_SYMLINK || !(r->flags & kRelative)) return std::nullopt;
  const std::size_t start = offsetof(symlink_reparse, path) + r->substitute_offset;
  if (start + r->substitute_length > n) return std::nullopt;
  return std::wstring(reinterpret_cast<const wchar_t*>(buf.data() + start),
                      r->substitute_length / sizeof(wchar_t));
}

// Whether the component `asked` that opened `h` is the file's own name and
// not its 8.3 short name (only a name of that shape needs the question).
bool own_name(HANDLE h, const std::string& asked) {
  if (!may_be_short_name(asked)) return true;
  const std::wstring real = final_path(h);
  const auto slash = real.rfind(L'\\');
  return slash != std::wstring::npos &&
         iequal(std::wstring_view(real).substr(slash + 1), wide(asked));
}

// One walk from `root` along `path`: the final handle; or the link to follow
// (the component `link_at` is a relative symbolic link to `target`); or
// no_handle with errno.
struct step_result {
  native_handle handle = no_handle;
  bool is_link = false;
  std::size_t link_at = 0;
  std::string target;
};

step_result step_failed(DWORD error) {
  fail_with(error);
  return {};
}

step_result step_errno(int e) {
  errno = e;
  return {};
}

step_result walk_once(HANDLE root, const beneath_path& path, open_for mode) {
  step_result out;
  unique_fd dir;
  HANDLE at = root;
  for (std::size_t i = 0; i < path.parts.size(); ++i) {
    const bool last = i + 1 == path.parts.size();
    const ACCESS_MASK access = last ? access_for(mode) : FILE_TRAVERSE | FILE_READ_ATTRIBUTES;
    const std::wstring name = wide(path.parts[i]);
    HANDLE h;
    NTSTATUS st = open_relative(at, name, access, false, h);
    if (!NT_SUCCESS(st)) return step_failed(RtlNtStatusToDosError(st));
    unique_fd next(h);
    FILE_ATTRIBUTE_TAG_INFO tag{};
    if (!GetFileInformationByHandleEx(h, FileAttributeTagInfo, &tag, sizeof tag))
      return step_failed(GetLastError());
    if ((tag.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
        IsReparseTagNameSurrogate(tag.ReparseTag)) {
      auto target = relative_link_target(h);
      if (!target) return step_errno(EXDEV);
      out.is_link = true;
      out.link_at = i;
      out.target = narrow(*target);
      return out;
    }
    if (tag.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
      // Not a name surrogate (deduplicated, cloud files): data, not a way
      // elsewhere; opened through its filter.
      st = open_relative(at, name, access, true, h);
      if (!NT_SUCCESS(st)) return step_failed(RtlNtStatusToDosError(st));
      next.reset(h);
    }
    if (!own_name(h, path.parts[i])) return step_errno(ENOENT);  // an 8.3 short name
    const bool folder = tag.FileAttributes & FILE_ATTRIBUTE_DIRECTORY;
    if ((!last || path.folder) && !folder) return step_errno(ENOTDIR);
    if (last) {
      out.handle = next.release();
      return out;
    }
    dir = std::move(next);
    at = dir.get();
  }
  HANDLE h;  // no components: the root itself (".")
  const NTSTATUS st = open_relative(root, L"", access_for(mode), false, h);
  if (!NT_SUCCESS(st)) return step_failed(RtlNtStatusToDosError(st));
  out.handle = h;
  return out;
}

// The walk with its links followed; `via_link` when one was.
native_handle walk(HANDLE root, beneath_path path, open_for mode, bool& via_link) {
  via_link = false;
  for (int links = 0;; ++links) {
    step_result r = walk_once(root, path, mode);
    if (!r.is_link) return r.handle;
    if (links == kMaxLinks) return fail_errno(ELOOP);
    via_link = true;
    path = splice_link(path, r.link_at, r.target);
    if (path.escapes) return fail_errno(EXDEV);
    if (path.refused) return fail_errno(ENOENT);
  }
}

// open_beneath, noting whether the file's real name differs from the one
// asked for (a link followed, or only another case).
native_handle open_noting(HANDLE root, const char* relative, open_for mode, bool& renamed) {
  renamed = false;
  const beneath_path path = split_beneath(relative ? relative : "");
  if (path.escapes) return fail_errno(EXDEV);
  if (path.refused) return fail_errno(ENOENT);
  bool via_link = false;
  unique_fd file(walk(root, path, mode, via_link));
  if (file.get() == no_handle) return no_handle;
  const std::wstring root_path = final_path(root), file_path = final_path(file.get());
  if (root_path.empty() || file_path.empty()) return fail_errno(EXDEV);  // cannot be shown
  std::wstring asked;
  for (const auto& part : path.parts) asked += (asked.empty() ? L"" : L"\\") + wide(part);
  if (asked.empty()) {
    if (file_path != root_path) return fail_errno(EXDEV);
  } else {
    const auto real = below(root_path, file_path);
    if (!real) return fail_errno(EXDEV);
    renamed = via_link || *real != asked;
  }
  return file.release();
}

}  // namespace

void unique_fd::reset(native_handle fd) noexcept {
  if (fd_ != no_handle && fd_ != nullptr) CloseHandle(fd_);
  fd_ = fd;
}

namespace {

// FILETIME (100 ns since 1601) as seconds and nanoseconds since 1970.
void set_modified(const FILETIME& t, file_info& out) {
  constexpr std::int64_t kEpochDelta = 116444736000000000;  // 1601 -> 1970 in 100 ns
  const std::int64_t ticks =
      static_cast<std::int64_t>((static_cast<std::uint64_t>(t.dwHighDateTime) << 32) |
                                t.dwLowDateTime) -
      kEpochDelta;
  std::int64_t seconds = ticks / 10000000, rest = ticks % 10000000;
  if (rest < 0) {
    rest += 10000000;
    --seconds;
  }
  out.modified = seconds;
  out.modified_nanoseconds = static_cast<std::uint32_t>(rest * 100);
}

// The owner, group and DACL of `h` as one self-relative descriptor; empty
// when the handle may not read them (no READ_CONTROL).
std::vector<unsigned char> security_of(HANDLE h) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (GetSecurityInfo(
          h, SE_FILE_OBJECT,
          OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
          nullptr, nullptr, nullptr, nullptr, &sd) != ERROR_SUCCESS)
    return {};
  const auto* bytes = static_cast<const unsigned char*>(sd);
  std::vector<unsigned char> out(bytes, bytes + GetSecurityDescriptorLength(sd));
  LocalFree(sd);
  return out;
}

// Whether the file's name ends in .exe or .com.
bool named_as_program(HANDLE h) {
  alignas(FILE_NAME_INFO) unsigned char buf[sizeof(FILE_NAME_INFO) + 2048 * sizeof(wchar_t)];
  if (!GetFileInformationByHandleEx(h, FileNameInfo, buf, sizeof buf)) return false;
  const auto* info = reinterpret_cast<const FILE_NAME_INFO*>(buf);
  const std::wstring_view name(info->FileName, info->FileNameLength / sizeof(wchar_t));
  if (name.size() < 4) return false;
  const std::wstring_view ext = name.substr(name.size() - 4);
  return iequal(ext, L".exe") || iequal(ext, L".com");
}

}  // namespace

std::optional<file_info> info_of(native_handle fd, std::error_code& ec) {
  BY_HANDLE_FILE_INFORMATION bi{};
  if (fd == no_handle || !GetFileInformationByHandle(fd, &bi)) {
    ec = fd == no_handle ? std::make_error_code(std::errc::bad_file_descriptor)
                         : win32::error_of(GetLastError());
    return std::nullopt;
  }
  ec.clear();
  file_info out;
  out.what = GetFileType(fd) != FILE_TYPE_DISK                  ? file_info::kind::other
             : (bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? file_info::kind::folder
                                                                : file_info::kind::regular;
  out.size = (static_cast<std::uint64_t>(bi.nFileSizeHigh) << 32) | bi.nFileSizeLow;
  set_modified(bi.ftLastWriteTime, out);
  out.security = security_of(fd);
  out.program_image = out.is_regular() && named_as_program(fd);
  return out;
}

native_handle open_folder(const std::filesystem::path& path) {
  HANDLE h = CreateFileW(path.c_str(), FILE_TRAVERSE | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                         kShareAll, nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return fail_with(GetLastError());
  BY_HANDLE_FILE_INFORMATION bi{};
  if (!GetFileInformationByHandle(h, &bi) || !(bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
    CloseHandle(h);
    return fail_errno(ENOTDIR);
  }
  return h;
}

std::error_code can_read_folder(const std::filesystem::path& path) {
  HANDLE h = CreateFileW(path.c_str(), FILE_LIST_DIRECTORY | FILE_TRAVERSE | SYNCHRONIZE, kShareAll,
                         nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return win32::error_of(GetLastError());
  BY_HANDLE_FILE_INFORMATION bi{};
  const bool folder =
      GetFileInformationByHandle(h, &bi) && (bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY);
  CloseHandle(h);
  return folder ? std::error_code() : std::make_error_code(std::errc::not_a_directory);
}

native_handle open_beneath(native_handle dir_fd, const char* relative, open_for mode) {
  bool renamed = false;
  return open_noting(dir_fd, relative, mode, renamed);
}

native_handle open_beneath_noting_symlinks(native_handle dir_fd, const char* relative,
                                           bool& via_symlink) {
  return open_noting(dir_fd, relative, open_for::read, via_symlink);
}

native_handle open_script(native_handle root_fd, const char* relative, open_for mode,
                          bool may_leave) {
  if (!may_leave) return open_beneath(root_fd, relative, mode);
  // allow_symlinks_outside_root: the names are still judged, the links
  // followed wherever they go (CreateFileW on the root's real path).
  const beneath_path path = split_beneath(relative ? relative : "");
  if (path.escapes) return fail_errno(EXDEV);
  if (path.refused) return fail_errno(ENOENT);
  std::wstring full = final_path(root_fd);
  if (full.empty()) return fail_with(GetLastError());
  for (const auto& part : path.parts) full += (full.back() == L'\\' ? L"" : L"\\") + wide(part);
  HANDLE h = CreateFileW(full.c_str(), access_for(mode), kShareAll, nullptr, OPEN_EXISTING,
                         FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return fail_with(GetLastError());
  return h;
}

native_handle open_script(native_handle root_fd, const char* relative, bool may_leave) {
  return open_script(root_fd, relative, open_for::look, may_leave);
}

std::optional<std::string> path_below(native_handle root_fd, native_handle fd) {
  if (root_fd == no_handle || fd == no_handle) return std::nullopt;
  const auto real = below(final_path(root_fd), final_path(fd));
  if (!real) return std::nullopt;
  std::string out = "/" + narrow(*real);
  for (char& c : out)
    if (c == '\\') c = '/';
  return out;
}

std::size_t read_at(native_handle h, std::uint64_t offset, char* buf, std::size_t size,
                    std::error_code& ec) {
  ec.clear();
  if (h == no_handle) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  OVERLAPPED at{};
  at.Offset = static_cast<DWORD>(offset);
  at.OffsetHigh = static_cast<DWORD>(offset >> 32);
  DWORD n = 0;
  const DWORD ask = size > (1u << 30) ? (1u << 30) : static_cast<DWORD>(size);
  if (ReadFile(h, buf, ask, &n, &at)) return n;
  const DWORD error = GetLastError();
  if (error != ERROR_HANDLE_EOF) ec = win32::error_of(error);
  return 0;
}

std::error_code write_at(native_handle h, std::uint64_t offset, const char* data,
                         std::size_t size) {
  if (h == no_handle) return std::make_error_code(std::errc::bad_file_descriptor);
  while (size > 0) {
    OVERLAPPED at{};
    at.Offset = static_cast<DWORD>(offset);
    at.OffsetHigh = static_cast<DWORD>(offset >> 32);
    DWORD n = 0;
    const DWORD ask = size > (1u << 30) ? (1u << 30) : static_cast<DWORD>(size);
    if (!WriteFile(h, data, ask, &n, &at)) return win32::error_of(GetLastError());
    if (n == 0) return std::make_error_code(std::errc::no_space_on_device);
    data += n;
    size -= n;
    offset += n;
  }
  return {};
}

spool_file spool_file::create(std::error_code& ec) {
  spool_file out;
  wchar_t dir[MAX_PATH + 1];
  const DWORD len = GetTempPathW(MAX_PATH + 1, dir);
  if (len == 0 || len > MAX_PATH) {
    ec = win32::error_of(GetLastError());
    return out;
  }
  DWORD error = ERROR_FILE_EXISTS;
  for (int tries = 0; tries < 8 && error == ERROR_FILE_EXISTS; ++tries) {
    unsigned char random[12];
    if (!BCRYPT_SUCCESS(
            BCryptGenRandom(nullptr, random, sizeof random, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
      error = ERROR_GEN_FAILURE;
      break;
    }
    std::wstring name = std::wstring(dir, len) + L"cgihost-spool-";
    for (unsigned char b : random)
      name += L"0123456789abcdef"[b >> 4], name += L"0123456789abcdef"[b & 15];
    // No sharing: no one else opens it; deleted when its last handle closes.
    HANDLE h =
        CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE | DELETE, 0, nullptr, CREATE_NEW,
                    FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, nullptr);
    error = h == INVALID_HANDLE_VALUE ? GetLastError() : ERROR_SUCCESS;
    if (h != INVALID_HANDLE_VALUE) out.fd_.reset(h);
  }
  ec = out.is_open() ? std::error_code() : win32::error_of(error);
  return out;
}

}  // namespace cgihost::spawner
