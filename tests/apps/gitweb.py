"""gitweb (Perl CGI, Debian's package) the Debian way: /gitweb/ runs
gitweb.cgi (a location's `script`), GITWEB_CONFIG through the location's
`env`, its static files through a location's `root`."""

import html
import re
import urllib.parse

import gitrepo
from harness import Cgihost, Client, Nginx, TempDir, expect, expect_status, require

GITWEB = "/usr/share/gitweb/gitweb.cgi"
STATIC = "/usr/share/gitweb/static"

CONFIG = """
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]

[[locations]]
prefix = "/gitweb/"
script = "{gitweb}"
env = {{ GITWEB_CONFIG = "{conf}" }}

[[locations]]
prefix = "/gitweb/static/"
root = "{static}"
"""

GITWEB_CONF = """$projectroot = "{repos}";
$git_temp = "/tmp";
$site_name = "cgihost gitweb test";
# gitweb's static links are relative to its <base href> ("/gitweb" for
# SCRIPT_NAME /gitweb, so "static/x" would be /static/x): absolute, as
# gitweb's documentation says for a ScriptAlias.
@stylesheets = ("/gitweb/static/gitweb.css");
$javascript = "/gitweb/static/gitweb.js";
$logo = "/gitweb/static/git-logo.png";
$favicon = "/gitweb/static/git-favicon.png";
"""

PROBE = """print "Content-Type: text/plain\\n\\n";
print "REMOTE_ADDR=$ENV{REMOTE_ADDR}\\nHTTPS=", ($ENV{HTTPS} // ''), "\\n";
"""


def run(binary, checks):
    require(paths=[GITWEB, STATIC, gitrepo.GIT, "/usr/share/perl5/CGI.pm", "/usr/sbin/nginx"])
    tmp = TempDir("gitweb")
    srv = proxy = None
    try:
        bare, ids = gitrepo.make(tmp)
        conf = tmp.write("gitweb.conf", GITWEB_CONF.format(repos=tmp.join("repos")))
        tmp.write("site/probe.pl", PROBE)
        srv = Cgihost(binary, tmp, tmp.join("site"), CONFIG.format(gitweb=GITWEB, conf=conf, static=STATIC))
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
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]


def scenario(checks, c, ids):
    state = {}

    def project_list():
        r = c.get("/gitweb/")
        expect_status(r, 200, "GET /gitweb/ (the project list)")
        expect("demo.git" in r.text and "cgihost demo repository" in r.text, "demo.git not listed", r)
        expect("cgihost gitweb test" in r.text, "GITWEB_CONFIG not read ($site_name missing)", r)
        summary = [h for h in hrefs(r.text) if "p=demo.git" in h and "a=summary" in h]
        expect(summary, "no summary link for demo.git", r)
        state["base"] = summary[0].split("?")[0]  # what gitweb itself links to
        state["list"] = r.text

    def page(query, what):
        r = c.get(state.get("base", "/gitweb/") + "?" + query)
        expect_status(r, 200, what)
        return r

    def summary_link():
        r = c.get(state["base"] + "?p=demo.git;a=summary")
        expect_status(r, 200, f"the summary link gitweb made ({state['base']}?p=demo.git;a=summary)")
        expect(gitrepo.SUBJECTS[1] in r.text, "last commit not on the summary", r)

    def log():
        r = page("p=demo.git;a=log", "log")
        expect(all(s in r.text for s in gitrepo.SUBJECTS), "log lacks a commit", r)

    def commit():
        r = page(f"p=demo.git;a=commit;h={ids[1]}", "commit")
        expect(ids[1] in r.text and gitrepo.SUBJECTS[1] in r.text and "src/hello.c" in r.text, "commit page", r)

    def tree():
        r = page("p=demo.git;a=tree;hb=HEAD", "tree")
        expect("README.md" in r.text and "src" in r.text, "tree lacks entries", r)

    def blob():
        r = page("p=demo.git;a=blob_plain;f=README.md;hb=HEAD", "blob_plain")
        expect(r.text == gitrepo.README, "README.md differs", r)
        r = page("p=demo.git;a=blob;f=src/hello.c;hb=HEAD", "blob")
        expect("hello" in r.text and "puts" in r.text, "blob page", r)

    def snapshot():
        r = page("p=demo.git;a=snapshot;h=HEAD;sf=tgz", "snapshot")
        gitrepo.check_snapshot(r.body, "demo")

    def atom():
        r = page("p=demo.git;a=atom", "atom")
        _, entries = gitrepo.atom_entries(r.body)
        titles = [t for t, _ in entries]
        expect(len(entries) == 2 and any(gitrepo.SUBJECTS[1] in t for t in titles), f"entries {titles}")

    def static():
        css = re.search(r'<link rel="stylesheet" type="text/css" href="([^"]+)"', state.get("list", ""))
        base = re.search(r'<base href="([^"]+)"', state.get("list", ""))
        expect(css and base, "no stylesheet link or base on the project list")
        url = urllib.parse.urlsplit(urllib.parse.urljoin(base.group(1), css.group(1)))
        expect(url.path == "/gitweb/static/gitweb.css", f"the stylesheet resolves to {url.path}")
        r = c.get(url.path)
        expect_status(r, 200, "/gitweb/static/gitweb.css (location root)")
        with open(STATIC + "/gitweb.css", "rb") as f:
            expect(r.body == f.read(), "not the file of /usr/share/gitweb/static", r)
        expect(r.header("Content-Type", "").startswith("text/css"), f"type {r.header('Content-Type')}", r)

    for name, fn in [
        ("project list at /gitweb/ (GITWEB_CONFIG through env)", project_list),
        ("the summary link gitweb generates", summary_link),
        ("log", log),
        ("commit", commit),
        ("tree", tree),
        ("blob and blob_plain", blob),
        ("tar.gz snapshot unpacks with the files", snapshot),
        ("atom feed parses with both commits", atom),
        ("static files through a location root", static),
    ]:
        checks.run(name, fn)


def behind_nginx(checks, proxy):
    def forwarded():
        c = Client(proxy.port, source="127.0.0.2")
        r = c.get("/probe.pl")
        expect_status(r, 200, "probe.pl through nginx")
        expect("REMOTE_ADDR=127.0.0.2\n" in r.text and "HTTPS=on\n" in r.text, "forwarded client/scheme", r)
        r = c.get("/gitweb/?p=demo.git;a=atom")
        expect_status(r, 200, "atom through nginx")
        feed, entries = gitrepo.atom_entries(r.body)
        want = f"https://127.0.0.1:{proxy.port}/gitweb"
        expect(entries and all(h.startswith(want) for _, h in entries), f"links {entries} (want {want}...)")

    checks.run("behind nginx: REMOTE_ADDR, HTTPS=on, https links in the feed", forwarded)
