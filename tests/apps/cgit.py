"""cgit (C CGI, Debian's package) as the whole site: the location "/" runs
cgit.cgi (`script`, virtual-root=/ so its URLs are PATH_INFO), CGIT_CONFIG
through the location's `env`, its CSS and logo through `root = /usr/share/cgit`
at /cgit-css/ (Debian's /etc/cgitrc names that path)."""

import html
import re

import gitrepo
from harness import Cgihost, Client, Nginx, TempDir, expect, expect_status, require

CGIT = "/usr/lib/cgit/cgit.cgi"
CGIT_SHARE = "/usr/share/cgit"

CONFIG = """
[[locations]]
prefix = "/"
script = "{cgit}"
env = {{ CGIT_CONFIG = "{conf}" }}

[[locations]]
prefix = "/cgit-css/"
root = "{share}"

[[locations]]
prefix = "/probe/"
script = "{probe}"
"""

CGITRC = """css=/cgit-css/cgit.css
logo=/cgit-css/cgit.png
virtual-root=/
cache-size=0
snapshots=tar.gz
root-title=cgihost cgit test
repo.url=demo
repo.path={bare}
repo.desc=cgihost demo repository
"""

PROBE = """#!/usr/bin/perl
print "Content-Type: text/plain\\n\\n";
print "REMOTE_ADDR=$ENV{REMOTE_ADDR}\\nHTTPS=", ($ENV{HTTPS} // ''), "\\n";
"""


def run(binary, checks):
    require(paths=[CGIT, CGIT_SHARE + "/cgit.css", gitrepo.GIT, "/usr/sbin/nginx"])
    tmp = TempDir("cgit")
    srv = proxy = None
    try:
        bare, ids = gitrepo.make(tmp)
        conf = tmp.write("cgitrc", CGITRC.format(bare=bare))
        probe = tmp.write("probe.pl", PROBE, mode=0o755)
        tmp.write("site/robots.txt", "User-agent: *\n")
        extra = CONFIG.format(cgit=CGIT, conf=conf, share=CGIT_SHARE, probe=probe)
        srv = Cgihost(binary, tmp, tmp.join("site"), extra)
        scenario(checks, Client(srv.port), ids)
        proxy = Nginx(tmp, srv.port)
        behind_nginx(checks, proxy)
    finally:
        if proxy:
            proxy.stop()
        if srv:
            srv.stop()
            if checks.failed():
                print("--- cgihost error log ---\n" + srv.error_log()[-4000:])
        tmp.remove()


def hrefs(text):
    return [html.unescape(h) for h in re.findall(r"href='([^']+)'", text)]


def scenario(checks, c, ids):
    pages = {}

    def get(path, what, kind="text/html"):
        r = c.get(path)
        expect_status(r, 200, what)
        expect(r.header("Content-Type", "").startswith(kind), f"{what}: type {r.header('Content-Type')}", r)
        return r

    def index():
        r = get("/", "GET / (cgit's repository index)")
        expect("cgihost cgit test" in r.text, "CGIT_CONFIG not read (root-title missing)", r)
        expect("/demo/" in hrefs(r.text) and "cgihost demo repository" in r.text, "demo not listed", r)
        pages["index"] = r.text

    def log():
        r = get("/demo/log/", "log")
        expect(all(s in r.text for s in gitrepo.SUBJECTS), "log lacks a commit", r)
        expect(f"/demo/commit/?id={ids[0]}" in hrefs(r.text), "no link to the first commit", r)

    def commit():
        r = get(f"/demo/commit/?id={ids[1]}", "commit")
        expect(gitrepo.SUBJECTS[1] in r.text and "src/hello.c" in r.text, "commit page", r)
        snaps = [h for h in hrefs(r.text) if "/snapshot/" in h and h.endswith(".tar.gz")]
        expect(snaps, "no tar.gz snapshot link on the commit page", r)
        pages["snapshot"] = snaps[0]

    def tree():
        r = get("/demo/tree/", "tree")
        expect("/demo/tree/README.md" in hrefs(r.text) and "/demo/tree/src/" in hrefs(r.text), "tree", r)
        r = get("/demo/tree/src/hello.c", "blob (tree view of a file)")
        expect("puts" in r.text, "hello.c's text", r)

    def blob():
        r = get("/demo/plain/README.md", "plain blob", kind="text/plain")
        expect(r.text == gitrepo.README, "README.md differs", r)

    def snapshot():
        r = get(pages.get("snapshot", "/demo/snapshot/demo-master.tar.gz"), "snapshot", kind="application/")
        gitrepo.check_snapshot(r.body, "demo-")

    def atom():
        r = get("/demo/atom/?h=master", "atom", kind="text/xml")
        _, entries = gitrepo.atom_entries(r.body)
        titles = [t for t, _ in entries]
        expect(titles == list(reversed(gitrepo.SUBJECTS)), f"entries {titles}")

    def css():
        link = re.search(r"<link rel='stylesheet' type='text/css' href='([^']+)'", pages.get("index", ""))
        expect(link and link.group(1) == "/cgit-css/cgit.css", f"stylesheet link {link and link.group(1)}")
        r = get("/cgit-css/cgit.css", "cgit.css through location root", kind="text/css")
        with open(CGIT_SHARE + "/cgit.css", "rb") as f:
            expect(r.body == f.read(), "not /usr/share/cgit/cgit.css", r)
        r = get("/cgit-css/cgit.png", "cgit.png", kind="image/png")
        r = c.get("/cgit-css/../../etc/passwd")
        expect("root:" not in r.text, "a path leaving the root", r)

    def unknown_repo():
        r = c.get("/nosuch/log/")
        expect(r.status == 404 and "No repositories found" in r.text, "cgit's own 404 for an unknown repo", r)

    for name, fn in [
        ("repository index at / (CGIT_CONFIG through env, script at /)", index),
        ("log", log),
        ("commit", commit),
        ("tree", tree),
        ("plain blob", blob),
        ("tar.gz snapshot from the commit page's link unpacks with the files", snapshot),
        ("atom feed parses with both commits", atom),
        ("CSS and logo through a location root", css),
        ("cgit's own 404 for an unknown repository", unknown_repo),
    ]:
        checks.run(name, fn)


def behind_nginx(checks, proxy):
    def forwarded():
        c = Client(proxy.port, source="127.0.0.2")
        r = c.get("/probe/")
        expect_status(r, 200, "the probe through nginx")
        expect("REMOTE_ADDR=127.0.0.2\n" in r.text and "HTTPS=on\n" in r.text, "forwarded client/scheme", r)
        r = c.get("/demo/atom/?h=master")
        expect_status(r, 200, "atom through nginx")
        _, entries = gitrepo.atom_entries(r.body)
        want = f"https://127.0.0.1:{proxy.port}/demo/commit/"
        expect(entries and all(h.startswith(want) for _, h in entries), f"links {entries} (want {want}...)")

    checks.run("behind nginx: REMOTE_ADDR, HTTPS=on, https links in the feed", forwarded)
