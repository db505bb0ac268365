"""A small bare repository made with git for gitweb and cgit: two commits,
a README.md and src/hello.c, owned by www-data (git refuses a repository
another account owns: safe.directory)."""

import io
import os
import subprocess
import tarfile
import xml.etree.ElementTree as ET

from harness import chown_tree, expect

GIT = "/usr/bin/git"
README = "# demo\n\nA repository made by cgihost's tests.\n"
HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
SUBJECTS = ["Add README and hello.c", "Say hello from cgihost"]


def git(*args, cwd):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Ada Tester",
        GIT_AUTHOR_EMAIL="ada@example.org",
        GIT_COMMITTER_NAME="Ada Tester",
        GIT_COMMITTER_EMAIL="ada@example.org",
        GIT_AUTHOR_DATE="2024-05-01T12:00:00Z",
        GIT_COMMITTER_DATE="2024-05-01T12:00:00Z",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=cwd,
    )
    return subprocess.run(
        [GIT, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def make(tmp):
    """Returns (path of the bare repository demo.git, [commit ids, oldest first])."""
    work = tmp.join("work")
    os.makedirs(os.path.join(work, "src"))
    git("init", "-q", "-b", "master", cwd=work)
    with open(os.path.join(work, "README.md"), "w") as f:
        f.write(README)
    with open(os.path.join(work, "src", "hello.c"), "w") as f:
        f.write(HELLO.replace("hello", "hi"))
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", SUBJECTS[0], cwd=work)
    with open(os.path.join(work, "src", "hello.c"), "w") as f:
        f.write(HELLO)
    git("commit", "-q", "-am", SUBJECTS[1], cwd=work)
    ids = git("rev-list", "--reverse", "HEAD", cwd=work).split()
    repos = tmp.join("repos")
    os.makedirs(repos)
    bare = os.path.join(repos, "demo.git")
    git("clone", "-q", "--bare", work, bare, cwd=tmp.path)
    with open(os.path.join(bare, "description"), "w") as f:
        f.write("cgihost demo repository\n")
    chown_tree(repos)
    return bare, ids


def check_snapshot(body, prefix_hint):
    """A tar.gz of the tree: README.md and src/hello.c with their content."""
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as t:
        names = t.getnames()
        readme = [n for n in names if n.endswith("README.md")]
        hello = [n for n in names if n.endswith("src/hello.c")]
        expect(readme and hello, f"snapshot lacks files: {names}")
        expect(readme[0].startswith(prefix_hint), f"snapshot prefix {readme[0]} (want {prefix_hint}...)")
        expect(t.extractfile(readme[0]).read().decode() == README, "README.md in the snapshot differs")
        expect(t.extractfile(hello[0]).read().decode() == HELLO, "src/hello.c in the snapshot differs")


ATOM = "{http://www.w3.org/2005/Atom}"


def atom_entries(body):
    """Parses an Atom feed; returns (feed element, [(title, link href)])."""
    feed = ET.fromstring(body)
    expect(feed.tag == ATOM + "feed", f"not an Atom feed: {feed.tag}")
    entries = []
    for e in feed.findall(ATOM + "entry"):
        link = e.find(ATOM + "link")
        entries.append((e.findtext(ATOM + "title", "").strip(), link.get("href") if link is not None else ""))
    return feed, entries
