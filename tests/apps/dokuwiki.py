"""DokuWiki (Debian's package, PHP, no database) through a php-cgi pool: a
private copy of the code with a fresh conf/ and data/ in the document root,
doku.php as the default document, DokuWiki's nginx rules as [[rewrites]]
(userewrite = 1), then userewrite = 2 (doku.php/page), data/ conf/ bin/ inc/
refused by deny locations, and behind nginx."""

import hashlib
import os
import shutil
import struct
import time
import urllib.parse
import zlib

from harness import (
    Cgihost,
    Client,
    Forms,
    Nginx,
    TempDir,
    chown_tree,
    expect,
    expect_status,
    require,
    wait_for,
)

CODE = "/usr/share/dokuwiki"
ETC = "/etc/dokuwiki"
DATA = "/var/lib/dokuwiki/data"
PHP_CGI = "/usr/bin/php-cgi"

# DokuWiki's nginx documentation (install:nginx): try_files $uri $uri/ @dokuwiki,
# then these rewrites ... last; conf/ bin/ inc/ vendor/ denied, data/ internal.
CONFIG = """
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
methods = ["GET", "HEAD", "POST"]

[pools.php]
command = ["{php}"]
children = 2  # one php-cgi, its children sharing one OPcache (README: FastCGI pools)

[static]
index = ["doku.php", "index.html"]

[[rewrites]]
match = "^/_media/(.*)$"
to = "/lib/exe/fetch.php?media=$1"
if_missing = true

[[rewrites]]
match = "^/_detail/(.*)$"
to = "/lib/exe/detail.php?media=$1"
if_missing = true

[[rewrites]]
match = "^/_export/([^/]+)/(.*)$"
to = "/doku.php?do=export_$1&id=$2"
if_missing = true

[[rewrites]]
match = "^/(.+)$"
to = "/doku.php?id=$1"
if_missing = true
"""

DENIED = ["/data/", "/conf/", "/bin/", "/inc/", "/vendor/"]

LOCAL_PHP = """<?php
$conf['title'] = 'cgihost wiki';
$conf['savedir'] = DOKU_INC.'data';
$conf['useacl'] = 1;
$conf['authtype'] = 'authplain';
$conf['superuser'] = '@admin';
$conf['userewrite'] = {rewrite};
$conf['useslash'] = 0;
$conf['updatecheck'] = 0;
$conf['dnslookups'] = 0;
"""

START = "====== Welcome ======\nThe cgihost wiki start page, about the zebrafish.\n"
PASSWORD = "correct horse"
PROBE = """<?php header('Content-Type: text/plain');
echo "REMOTE_ADDR={$_SERVER['REMOTE_ADDR']}\\nHTTPS=" . ($_SERVER['HTTPS'] ?? '') . "\\n";
"""


def png_1x1():
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x10\x80\xf0"))
        + chunk(b"IEND", b"")
    )


def build_site(tmp):
    site = tmp.join("site")
    # The code, symlinks (lib/tpl, lib/plugins -> /var/lib/dokuwiki) copied as files.
    shutil.copytree(CODE, site, symlinks=False, ignore=shutil.ignore_patterns(".htaccess*"))
    # Debian's preload.php points DOKU_CONF at /etc/dokuwiki: without it, DOKU_INC/conf/.
    os.remove(os.path.join(site, "inc", "preload.php"))
    conf = os.path.join(site, "conf")
    os.makedirs(conf)
    for name in os.listdir(ETC):
        src = os.path.join(ETC, name)
        if os.path.isfile(src) and (name.endswith(".php") or name.endswith(".conf") or name.endswith(".css")):
            shutil.copy(src, conf)
    write_local(site, 1)
    pw = hashlib.md5(PASSWORD.encode()).hexdigest()  # DokuWiki's PassHash reads plain md5 too
    with open(os.path.join(conf, "users.auth.php"), "w") as f:
        f.write(f"admin:{pw}:Wiki Admin:admin@example.org:admin,user\n")
    with open(os.path.join(conf, "acl.auth.php"), "w") as f:
        f.write("*\t@ALL\t1\n*\t@user\t16\n")
    shutil.copytree(DATA, os.path.join(site, "data"), symlinks=False)
    with open(os.path.join(site, "data", "pages", "start.txt"), "w") as f:
        f.write(START)
    with open(os.path.join(site, "probe.php"), "w") as f:
        f.write(PROBE)
    for root, dirs, files in os.walk(site):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    chown_tree(os.path.join(site, "data"))
    return site


def write_local(site, rewrite):
    path = os.path.join(site, "conf", "local.php")
    with open(path, "w") as f:
        f.write(LOCAL_PHP.format(rewrite=rewrite))
    # DokuWiki's caches compare mtimes with the config's: make the change visible.
    later = time.time() + 2
    os.utime(path, (later, later))


def run(binary, checks):
    require(paths=[CODE + "/doku.php", ETC + "/dokuwiki.php", DATA, PHP_CGI, "/usr/sbin/nginx"])
    tmp = TempDir("dokuwiki")
    srv = proxy = None
    try:
        site = build_site(tmp)
        extra = CONFIG.format(php=PHP_CGI) + "".join(
            f'\n[[locations]]\nprefix = "{p}"\ndeny = true\n' for p in DENIED
        )
        srv = Cgihost(binary, tmp, site, extra)
        Scenario(checks, Client(srv.port), site).run()
        proxy = Nginx(tmp, srv.port)
        behind_nginx(checks, proxy)
    finally:
        if proxy:
            proxy.stop()
        if srv:
            srv.stop()
            if checks.failed():
                print("--- cgihost error log ---\n" + srv.error_log()[-6000:])
        tmp.remove()


class Scenario:
    def __init__(self, checks, client, site):
        self.checks = checks
        self.c = client
        self.site = site
        self.text = "====== Hello ======\nWritten through cgihost: quokka42 and more.\n"
        self.png = png_1x1()

    def run(self):
        for name, fn in [
            ("GET / runs doku.php (default document)", self.home),
            ("a page through the /page:name rewrite, pretty links generated", self.view),
            ("log in (form token, cookie session)", self.login),
            ("edit and save (sectok round trip; a wrong token refused)", self.edit),
            ("search finds the saved page after the indexer ran", self.search),
            ("media upload (multipart to the media manager), fetched back", self.upload),
            ("/_media/, /_detail/, /_export/ rewrites", self.rewrites),
            ("log out", self.logout),
            ("userewrite = 2: /doku.php/page (PATH_INFO)", self.path_info),
            ("data/, conf/, bin/, inc/, vendor/ refused (404)", self.denied),
            ("PUT refused with 405 and Allow (handler methods)", self.methods),
        ]:
            self.checks.run(name, fn)

    def home(self):
        r = self.c.get("/")
        expect_status(r, 200, "GET /")
        expect("zebrafish" in r.text and "cgihost wiki" in r.text, "not the start page", r)

    def view(self):
        r = self.c.get("/wiki:syntax")
        expect_status(r, 200, "GET /wiki:syntax")
        expect("Formatting Syntax" in r.text, "not the syntax page", r)
        links = Forms(r.text).links
        expect("/wiki:dokuwiki" in links, f"no userewrite=1 link /wiki:dokuwiki among {links[:40]}", r)
        r = self.c.get("/wiki:dokuwiki")
        expect(r.status == 200 and "DokuWiki" in r.text, "following a generated link", r)

    def login(self):
        r = self.c.get("/start?do=login")
        expect_status(r, 200, "the login page")
        form = Forms(r.text).form(id="dw__login")
        fields = dict(form["fields"])
        fields.update(u="admin", p=PASSWORD)
        r = self.c.post_form(form["attrs"].get("action") or "/doku.php", fields)
        r = self.c.follow(r)
        expect_status(r, 200, "after the login POST")
        expect("do=logout" in r.text and "Wiki Admin" in r.text, "not logged in", r)
        expect(any(ck.name.startswith("DW") for ck in self.c.jar), f"no DokuWiki cookie: {list(self.c.jar)}")

    def edit_form(self, page):
        r = self.c.get(f"/{page}?do=edit")
        expect_status(r, 200, "the edit page")
        return Forms(r.text).form(id="dw__editform")

    def edit(self):
        form = self.edit_form("playground:cgihost")
        fields = [(k, v) for k, v in form["fields"] if k != "wikitext"]
        forged = [(k, "0" * 32 if k == "sectok" else v) for k, v in fields]
        r = self.c.post_form(form["attrs"]["action"], forged + [("wikitext", "forged"), ("do[save]", "1")])
        expect(not os.path.exists(self.page_file("playground/cgihost.txt")), "saved with a wrong sectok", r)
        r = self.c.post_form(form["attrs"]["action"], fields + [("wikitext", self.text), ("do[save]", "1")])
        expect(r.status in (302, 303), f"save: expected a redirect, got {r.status}", r)
        r = self.c.follow(r)
        expect(r.status == 200 and "quokka42" in r.text, "the saved text does not show", r)
        with open(self.page_file("playground/cgihost.txt")) as f:
            expect(f.read().strip() == self.text.strip(), "the page file differs")
        self.page_html = r.text

    def page_file(self, rel):
        return os.path.join(self.site, "data", "pages", rel)

    def search(self):
        runner = [u for u in Forms(getattr(self, "page_html", "")).links if "taskrunner.php" in u]
        expect(runner, "no taskrunner (the indexer's web bug) on the page")
        r = self.c.get(urllib.parse.urlsplit(runner[0]).path + "?" + urllib.parse.urlsplit(runner[0]).query)
        expect_status(r, 200, "the taskrunner")

        def found():
            r = self.c.get("/start?do=search&q=quokka42")
            return r if r.status == 200 and "playground:cgihost" in r.text else None

        wait_for("the search to find playground:cgihost", found, timeout=20, interval=0.2)

    def upload(self):
        # The media manager's popup (lib/exe/mediamanager.php) and its upload form.
        r = self.c.get("/lib/exe/mediamanager.php?ns=playground")
        expect_status(r, 200, "the media manager")
        form = Forms(r.text).form(id="dw__upload")
        fields = [(k, v) for k, v in form["fields"] if k != "mediaid"] + [("mediaid", "pixel.png")]
        expect("sectok" in dict(fields), f"no sectok in the upload form: {fields}")
        r = self.c.post_multipart(form["attrs"]["action"], fields, [("upload", "pixel.png", "image/png", self.png)])
        expect_status(r, 200, "the upload POST")
        stored = os.path.join(self.site, "data", "media", "playground", "pixel.png")
        expect(os.path.exists(stored), "the upload was not stored", r)
        r = self.c.get("/lib/exe/fetch.php?media=playground:pixel.png")
        expect(r.status == 200 and r.body == self.png, "fetch.php gives other bytes", r)

    def rewrites(self):
        r = self.c.get("/_media/playground:pixel.png")
        expect(r.status == 200 and r.body == self.png, "/_media/ gives other bytes", r)
        expect(r.header("Content-Type") == "image/png", f"/_media/ type {r.header('Content-Type')}", r)
        r = self.c.get("/_detail/playground:pixel.png?id=playground:cgihost")
        expect(r.status == 200 and "pixel.png" in r.text and "<html" in r.text, "/_detail/", r)
        r = self.c.get("/_export/raw/playground:cgihost")
        expect(r.status == 200 and r.text.strip() == self.text.strip(), "/_export/raw/", r)
        expect(r.header("Content-Type", "").startswith("text/plain"), "export type", r)
        r = self.c.get("/no:such:page")
        expect("does not exist yet" in r.text, "DokuWiki's own page for a missing page", r)

    def logout(self):
        out = [u for u in Forms(self.c.get("/start").text).links if "do=logout" in u]
        expect(out, "no log-out link")
        r = self.c.follow(self.c.get(out[0]))
        expect(r.status == 200 and "do=login" in r.text and "do=logout" not in r.text, "still logged in", r)
        r = self.c.get("/playground:cgihost?do=edit")
        expect('name="do[save]"' not in r.text, "a save button after logging out", r)

    def path_info(self):
        write_local(self.site, 2)
        r = self.c.get("/doku.php/playground:cgihost")
        expect(r.status == 200 and "quokka42" in r.text, "/doku.php/playground:cgihost", r)
        links = Forms(r.text).links
        expect("/doku.php/start" in links, f"no userewrite=2 link /doku.php/start among {links[:40]}", r)
        r = self.c.get("/doku.php/wiki:syntax?do=export_raw")
        expect(r.status == 200 and "====== Formatting Syntax ======" in r.text, "export through PATH_INFO", r)
        write_local(self.site, 1)

    def methods(self):
        r = self.c.request("PUT", "/doku.php?id=start", body=b"x")
        expect_status(r, 405, "PUT to doku.php (handler methods)")
        expect(r.header("Allow", "").replace(" ", "") == "GET,HEAD,POST", f"Allow {r.header('Allow')}", r)
        r = self.c.request("HEAD", "/wiki:syntax")
        expect(r.status == 200 and r.body == b"", "HEAD through the rewrite", r)

    def denied(self):
        for path in [
            "/data/pages/start.txt",
            "/conf/users.auth.php",
            "/conf/local.php",
            "/bin/indexer.php",
            "/inc/init.php",
            "/vendor/autoload.php",
        ]:
            r = self.c.get(path)
            expect(r.status == 404, f"{path}: expected 404, got {r.status}", r)
            expect("zebrafish" not in r.text and "admin:" not in r.text, f"{path} leaked", r)


def behind_nginx(checks, proxy):
    def forwarded():
        c = Client(proxy.port, source="127.0.0.2")
        r = c.get("/probe.php")
        expect_status(r, 200, "probe.php through nginx")
        expect("REMOTE_ADDR=127.0.0.2\n" in r.text and "HTTPS=on\n" in r.text, "forwarded client/scheme", r)
        r = c.get("/wiki:syntax")
        want = f'<link rel="canonical" href="https://127.0.0.1:{proxy.port}/wiki:syntax"'
        expect(r.status == 200 and want in r.text, f"no {want}", r)

    checks.run("behind nginx: REMOTE_ADDR, HTTPS=on, https canonical URL", forwarded)
