// The platform seam's small functions: files beneath a root, the body
// spool, who this process is.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "spawner/files.hpp"
#include "spawner/identity.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::spawner {
namespace {

namespace fs = std::filesystem;

// A folder of its own, removed afterwards: root/{a.txt, sub/b.txt,
// link -> sub/b.txt, out -> ../outside.txt}, beside outside.txt.
class SeamFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cgihost-seam-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ / "root";
    fs::create_directories(root_ / "sub");
    std::ofstream(root_ / "a.txt") << "a";
    std::ofstream(root_ / "sub" / "b.txt") << "b";
    std::ofstream(base_ / "outside.txt") << "x";
    fs::create_symlink("sub/b.txt", root_ / "link");
    fs::create_symlink("../outside.txt", root_ / "out");
    root_fd_.reset(open_folder(root_));
    ASSERT_GE(root_fd_.get(), 0);
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path base_, root_;
  unique_fd root_fd_;
};

TEST_F(SeamFiles, OpenBeneathNotingSymlinks) {
  struct row {
    const char* path;
    bool opens;
    bool via_symlink;
    int err;  // when it does not open
  };
  const row rows[] = {
      {"a.txt", true, false, 0},
      {"sub/b.txt", true, false, 0},
      {"link", true, true, 0},
      {"out", false, false, EXDEV},  // leaves the root through a symlink
      {"../outside.txt", false, false, EXDEV},
      {"missing", false, false, ENOENT},
  };
  for (const auto& r : rows) {
    bool via = false;
    errno = 0;
    unique_fd fd(open_beneath_noting_symlinks(root_fd_.get(), r.path, via));
    EXPECT_EQ(fd.get() >= 0, r.opens) << r.path;
    if (r.opens)
      EXPECT_EQ(via, r.via_symlink) << r.path;
    else
      EXPECT_EQ(errno, r.err) << r.path;
  }
}

TEST_F(SeamFiles, PathBelow) {
  unique_fd a(open_beneath(root_fd_.get(), "a.txt", open_for::read));
  unique_fd link(open_beneath(root_fd_.get(), "link", open_for::read));
  unique_fd outside(::open((base_ / "outside.txt").c_str(), O_RDONLY | O_CLOEXEC));
  unique_fd slash(open_folder("/"));
  ASSERT_GE(a.get(), 0);
  ASSERT_GE(link.get(), 0);
  EXPECT_EQ(path_below(root_fd_.get(), a.get()), std::optional<std::string>("/a.txt"));
  // The file's own name, not the symlink's.
  EXPECT_EQ(path_below(root_fd_.get(), link.get()), std::optional<std::string>("/sub/b.txt"));
  EXPECT_EQ(path_below(root_fd_.get(), outside.get()), std::nullopt);
  EXPECT_EQ(path_below(root_fd_.get(), root_fd_.get()), std::nullopt);
  EXPECT_EQ(path_below(slash.get(), a.get()),
            std::optional<std::string>((root_ / "a.txt").string()));
  EXPECT_EQ(path_below(root_fd_.get(), no_handle), std::nullopt);
}

TEST_F(SeamFiles, OpenScript) {
  std::error_code ec;
  unique_fd inside(open_script(root_fd_.get(), "sub/b.txt", false));
  ASSERT_GE(inside.get(), 0);
  auto info = info_of(inside.get(), ec);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->is_regular());
  char c;
  EXPECT_EQ(read_at(inside.get(), 0, &c, 1, ec), 0u);  // opened to look at, not to read
  EXPECT_TRUE(ec);
  errno = 0;
  EXPECT_LT(open_script(root_fd_.get(), "out", false), 0);
  EXPECT_EQ(errno, EXDEV);
  unique_fd leaving(open_script(root_fd_.get(), "out", true));  // allow_symlinks_outside_root
  EXPECT_GE(leaving.get(), 0);
}

TEST_F(SeamFiles, CanReadFolder) {
  EXPECT_FALSE(can_read_folder(root_));
  EXPECT_EQ(can_read_folder(root_ / "nothing"), std::errc::no_such_file_or_directory);
}

TEST_F(SeamFiles, InfoOf) {
  unique_fd a(open_beneath(root_fd_.get(), "a.txt", open_for::read));
  unique_fd sub(open_beneath(root_fd_.get(), "sub", open_for::look));
  ASSERT_EQ(::chmod((root_ / "a.txt").c_str(), 0754), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(a.get(), &st), 0);
  std::error_code ec;
  auto info = info_of(a.get(), ec);
  ASSERT_TRUE(info) << ec.message();
  EXPECT_TRUE(info->is_regular());
  EXPECT_EQ(info->size, 1u);
  EXPECT_EQ(info->modified, st.st_mtim.tv_sec);
  EXPECT_EQ(info->modified_nanoseconds, static_cast<std::uint32_t>(st.st_mtim.tv_nsec));
  EXPECT_EQ(info->owner, st.st_uid);
  EXPECT_EQ(info->group, st.st_gid);
  EXPECT_EQ(info->mode & 07777u, 0754u);
  EXPECT_TRUE(info->executable_by_someone());
  auto folder = info_of(sub.get(), ec);
  ASSERT_TRUE(folder);
  EXPECT_TRUE(folder->is_folder());
  EXPECT_FALSE(info_of(no_handle, ec));
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
}

TEST(SeamSpool, WritesAndReadsAtOffsets) {
  std::error_code ec;
  spool_file spool = spool_file::create(ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(spool.is_open());
  // Unnamed: nothing in /tmp names it.
  EXPECT_EQ(::fcntl(spool.native(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  const std::string first(70000, 'a'), second = "tail";
  EXPECT_FALSE(spool.write_at(0, first.data(), first.size()));
  EXPECT_FALSE(spool.write_at(first.size(), second.data(), second.size()));
  std::string back(first.size() + second.size() + 10, '\0');
  std::size_t total = 0;
  while (true) {
    std::size_t n = spool.read_at(total, back.data() + total, back.size() - total, ec);
    ASSERT_FALSE(ec);
    if (n == 0) break;
    total += n;
  }
  back.resize(total);
  EXPECT_EQ(back, first + second);
  char c;
  EXPECT_EQ(spool.read_at(total + 100, &c, 1, ec), 0u);  // past the end: end of file
  EXPECT_FALSE(ec);
}

TEST(SeamSpool, FailuresAreReported) {
  spool_file none;
  EXPECT_FALSE(none.is_open());
  char c = 'x';
  std::error_code ec;
  EXPECT_EQ(none.read_at(0, &c, 1, ec), 0u);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_EQ(none.write_at(0, &c, 1), std::errc::bad_file_descriptor);
  // Read-only: writing fails with the system's reason.
  unique_fd ro(::open("/etc/hostname", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(ro.get(), 0);
  EXPECT_EQ(write_at(ro.get(), 0, &c, 1), std::errc::bad_file_descriptor);
}

TEST(SeamProcess, CurrentAccount) {
  process_account me = current_account();
  EXPECT_EQ(me.uid.value, ::geteuid());
  EXPECT_EQ(can_switch_accounts(), ::geteuid() == 0);
  EXPECT_EQ(this_process_id(), ::getpid());
  if (!me.name.empty()) {
    auto named = lookup_account(me.name);
    ASSERT_TRUE(named);
    EXPECT_EQ(named->uid, me.uid);
  }
}

TEST(SeamIdentity, LookupAndResolve) {
  auto root = lookup_account("root");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->uid.value, 0u);
  EXPECT_EQ(root->gid.value, 0u);
  EXPECT_FALSE(lookup_account("no-such-account-cgihost"));
  auto id = resolve_identity(*root);
  ASSERT_TRUE(id);
  EXPECT_TRUE(id->is_root());
  std::string why;
  account renumbered = *root;
  renumbered.uid = uid{4242};
  EXPECT_FALSE(resolve_identity_now(renumbered, why));
  EXPECT_NE(why.find("is now uid 0 gid 0, not uid 4242 gid 0"), std::string::npos) << why;
  why.clear();
  EXPECT_FALSE(resolve_identity_now(account{"no-such-account-cgihost", uid{1}, gid{1}, ""}, why));
  EXPECT_EQ(why, "account no-such-account-cgihost does not exist (any more)");
}

TEST(SeamIdentity, MayAccessPath) {
  char tmpl[] = "/tmp/cgihost-seam-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_EQ(::chmod(tmpl, 0640), 0);
  struct stat st {};
  ASSERT_EQ(::stat(tmpl, &st), 0);
  identity owner{"o", uid{st.st_uid}, gid{st.st_gid}, {gid{st.st_gid}}, ""};
  identity stranger{"s", uid{st.st_uid + 12345}, gid{54321}, {gid{54321}}, ""};
  std::string why;
  std::error_code ec;
  EXPECT_TRUE(may_access_path(owner, tmpl, false, why, ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(may_access_path(owner, tmpl, true, why, ec));  // not executable
  EXPECT_FALSE(ec);
  EXPECT_FALSE(may_access_path(stranger, tmpl, false, why, ec));
  EXPECT_FALSE(ec);
  EXPECT_NE(why.find("mode 0640; it is other"), std::string::npos) << why;
  ::unlink(tmpl);
  why.clear();
  EXPECT_FALSE(may_access_path(owner, tmpl, false, why, ec));
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_EQ(why, "");
}

}  // namespace
}  // namespace cgihost::spawner
