"""WordPress (Debian's package) through a php-cgi pool with a mariadbd the
test starts on a socket in its temp folder: the installer, log in, pretty
permalinks and /wp-json/ through `fallback = "/index.php"`, a comment, an
upload served from wp-content/uploads/ where `scripts = false` refuses
evil.php, and behind nginx (WordPress builds https URLs when HTTPS=on)."""

import glob
import json
import os
import secrets
import shutil
import subprocess
import urllib.parse

from harness import (
    Cgihost,
    Client,
    Forms,
    Nginx,
    TempDir,
    chown_tree,
    expect,
    expect_status,
    read_text,
    require,
    stop_process,
    wait_for,
)

CODE = "/usr/share/wordpress"
PHP_CGI = "/usr/bin/php-cgi"
MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
MARIADB = "/usr/bin/mariadb"
PHP_MYSQL = "/usr/lib/php/20220829/mysqli.so"

CONFIG = """
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"

[pools.php]
command = ["{php}"]
max_instances = 4

[static]
index = ["index.php", "index.html"]

[[locations]]
prefix = "/"
fallback = "/index.php"

[[locations]]
prefix = "/wp-content/uploads/"
scripts = false
"""

WP_CONFIG = """<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp-test-password');
define('DB_HOST', 'localhost:{socket}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
{keys}
$table_prefix = 'wp_';
define('WP_DEFAULT_THEME', 'cgihost');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('FS_METHOD', 'direct');
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
"""

# Debian's package has no theme (they are packages of their own): a minimal one.
THEME_CSS = "/*\nTheme Name: cgihost test\n*/\n"
THEME_INDEX = """<!DOCTYPE html>
<html><head><title><?php bloginfo('name'); ?></title><?php wp_head(); ?></head><body>
<?php if (have_posts()) : while (have_posts()) : the_post(); ?>
<article><h2><a class="permalink" href="<?php the_permalink(); ?>"><?php the_title(); ?></a></h2>
<?php the_content(); ?>
<?php if (is_singular()) {
    foreach (get_comments(['post_id' => get_the_ID(), 'status' => 'approve']) as $c) {
        echo '<p class="comment">' . esc_html($c->comment_content) . "</p>\\n";
    }
    comment_form();
} ?>
</article>
<?php endwhile; else : ?><p class="nothing">nothing found</p><?php endif; ?>
<?php wp_footer(); ?></body></html>
"""

PROBE = """<?php header('Content-Type: text/plain');
echo "REMOTE_ADDR={$_SERVER['REMOTE_ADDR']}\\nHTTPS=" . ($_SERVER['HTTPS'] ?? '') . "\\n";
"""

TITLE = "cgihost press"
PASSWORD = "a long test password 42"


class Mariadb:
    """mariadbd on a socket in the temp folder (no network), started and
    stopped by pid; the database "wordpress" and its user made once up."""

    def __init__(self, tmp):
        self.data = tmp.join("db")
        self.run = tmp.join("dbrun")
        for d in (self.data, self.run):
            os.makedirs(d)
            shutil.chown(d, "mysql", "mysql")
        self.socket = os.path.join(self.run, "mysql.sock")
        self.log = os.path.join(self.run, "error.log")
        subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={self.data}", "--user=mysql", "--skip-test-db",
             "--auth-root-authentication-method=socket"],
            check=True, capture_output=True, timeout=60,
        )
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
             "--skip-networking", f"--pid-file={self.run}/mariadbd.pid", "--user=mysql",
             f"--log-error={self.log}", "--innodb-buffer-pool-size=32M", "--skip-log-bin"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for("mariadbd to answer", self._up, timeout=30, interval=0.05)
            self.sql(
                "CREATE DATABASE wordpress CHARACTER SET utf8mb4;"
                "CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-test-password';"
                "GRANT ALL ON wordpress.* TO 'wp'@'localhost';"
            )
        except BaseException:
            self.stop()
            raise

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("mariadbd exited:\n" + read_text(self.log))
        return os.path.exists(self.socket) and self.sql("SELECT 1", check=False).returncode == 0

    def sql(self, statements, check=True):
        return subprocess.run(
            [MARIADB, "--no-defaults", "-S", self.socket, "-u", "root", "-N", "-e", statements],
            check=check, capture_output=True, text=True, timeout=30,
        )

    def stop(self):
        stop_process(self.proc, grace=30)


def build_site(tmp, socket):
    site = tmp.join("site")
    shutil.copytree(CODE, site, symlinks=False, ignore=shutil.ignore_patterns(".htaccess"))
    keys = "\n".join(
        f"define('{k}', '{secrets.token_hex(32)}');"
        for k in ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
                  "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"]
    )
    files = {
        "wp-config.php": WP_CONFIG.format(socket=socket, keys=keys),
        "wp-content/themes/cgihost/style.css": THEME_CSS,
        "wp-content/themes/cgihost/index.php": THEME_INDEX,
        "probe.php": PROBE,
    }
    for rel, text in files.items():
        tmp.write("site/" + rel, text)
    uploads = os.path.join(site, "wp-content", "uploads")
    os.makedirs(uploads, exist_ok=True)
    # What a hole in a plugin would leave behind: it must never run.
    tmp.write("site/wp-content/uploads/evil.php", '<?php echo "EVIL" . "RAN"; ?>\n')
    for root, dirs, names in os.walk(site):
        os.chmod(root, 0o755)
        for n in names:
            os.chmod(os.path.join(root, n), 0o644)
    chown_tree(uploads)
    return site


def run(binary, checks):
    require(paths=[CODE + "/wp-settings.php", PHP_CGI, MARIADBD, INSTALL_DB, MARIADB, PHP_MYSQL,
                   "/usr/sbin/nginx"])
    tmp = TempDir("wordpress")
    db = srv = proxy = None
    try:
        db = Mariadb(tmp)
        site = build_site(tmp, db.socket)
        srv = Cgihost(binary, tmp, site, CONFIG.format(php=PHP_CGI))
        Scenario(checks, Client(srv.port), site, db).run()
        proxy = Nginx(tmp, srv.port)
        behind_nginx(checks, proxy)
    finally:
        if proxy:
            proxy.stop()
        if srv:
            srv.stop()
            if checks.failed():
                print("--- cgihost error log ---\n" + srv.error_log()[-6000:])
        if db:
            db.stop()
        tmp.remove()


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return (u.path or "/") + (f"?{u.query}" if u.query else "")


class Scenario:
    def __init__(self, checks, client, site, db):
        self.checks = checks
        self.c = client
        self.site = site
        self.db = db

    def run(self):
        for name, fn in [
            ("the installer (install.php?step=2); its loopback permalink probe passes", self.install),
            ("log in (wp-login.php, cookies) to the dashboard at /wp-admin/", self.login),
            ("pretty permalinks chosen in options-permalink.php", self.permalinks),
            ("home page at / (index.php as default document)", self.home),
            ("/hello-world/ through the fallback", self.post),
            ("WordPress's own 404 for a missing slug", self.missing),
            ("/wp-json/ and /wp-json/wp/v2/posts through the fallback", self.rest),
            ("a comment posted (wp-comments-post.php) shows", self.comment),
            ("an uploaded .txt in wp-content/uploads/ is served (and a Range of it)", self.upload),
            ("wp-content/uploads/evil.php refused (403, scripts = false)", self.evil),
        ]:
            self.checks.run(name, fn)

    def install(self):
        r = self.c.get("/wp-admin/install.php")
        expect_status(r, 200, "the installer")
        fields = {
            "weblog_title": TITLE, "user_name": "admin", "admin_password": PASSWORD,
            "admin_password2": PASSWORD, "pw_weak": "on", "admin_email": "admin@example.org",
            "blog_public": "0", "Submit": "Install WordPress", "language": "",
        }
        r = self.c.post_form("/wp-admin/install.php?step=2", fields)
        expect(r.status == 200 and "Success!" in r.text, "the install did not succeed", r)
        # The installer probes pretty permalinks with a request to itself
        # (through the fallback) and keeps them when the probe succeeds.
        got = self.db.sql("SELECT option_value FROM wordpress.wp_options "
                          "WHERE option_name = 'permalink_structure'").stdout.strip()
        expect(got == "/%year%/%monthnum%/%day%/%postname%/", f"the installer's permalink probe chose {got!r}")

    def login(self):
        self.c.get("/wp-login.php")  # the test cookie
        fields = {"log": "admin", "pwd": PASSWORD, "wp-submit": "Log In", "redirect_to": "/wp-admin/",
                  "testcookie": "1"}
        r = self.c.post_form("/wp-login.php", fields)
        expect(r.status == 302, f"login: expected 302, got {r.status}", r)
        r = self.c.follow(r)
        expect(r.status == 200 and "Dashboard" in r.text, "not the dashboard", r)

    def permalinks(self):
        r = self.c.get("/wp-admin/options-permalink.php")
        expect_status(r, 200, "options-permalink.php")
        form = Forms(r.text).form(name="form")
        fields = dict(form["fields"])
        fields.update(selection="/%postname%/", permalink_structure="/%postname%/", submit="Save Changes")
        action = urllib.parse.urljoin("/wp-admin/options-permalink.php", form["attrs"]["action"])
        r = self.c.follow(self.c.post_form(action, fields))
        expect(r.status == 200 and "/%postname%/" in r.text, "the structure was not saved", r)

    def home(self):
        r = self.c.get("/")
        expect_status(r, 200, "GET /")
        expect(f"<title>{TITLE}</title>" in r.text and "Hello world!" in r.text, "not the home page", r)
        links = [h for h in Forms(r.text).links if h.endswith("/hello-world/")]
        expect(links, "no pretty permalink to /hello-world/ on the home page", r)

    def post(self):
        r = self.c.get("/hello-world/")
        expect_status(r, 200, "GET /hello-world/")
        expect("Welcome to WordPress" in r.text, "not the post", r)
        self.post_html = r.text

    def missing(self):
        r = self.c.get("/no-such-post/")
        expect(r.status == 404 and "nothing found" in r.text, "WordPress's 404 page", r)

    def rest(self):
        r = self.c.get("/wp-json/")
        expect_status(r, 200, "GET /wp-json/")
        expect(json.loads(r.body).get("name") == TITLE, "the REST index", r)
        r = self.c.get("/wp-json/wp/v2/posts?per_page=5")
        expect_status(r, 200, "GET /wp-json/wp/v2/posts")
        expect([p["slug"] for p in json.loads(r.body)] == ["hello-world"], "posts", r)

    def comment(self):
        form = Forms(getattr(self, "post_html", "")).form(id="commentform")
        fields = dict(form["fields"])
        fields["comment"] = "Posted through cgihost: wombat7"
        r = self.c.post_form(path_of(form["attrs"]["action"]), fields)
        expect(r.status == 302 and "/hello-world/" in r.header("Location", ""), "comment POST", r)
        r = self.c.get("/hello-world/")
        expect('<p class="comment">Posted through cgihost: wombat7</p>' in r.text, "the comment", r)

    def upload(self):
        r = self.c.get("/wp-admin/media-new.php?browser-uploader")
        expect_status(r, 200, "media-new.php")
        form = Forms(r.text).form(id="file-form")
        fields = list(form["fields"]) + [("html-upload", "Upload")]
        body = b"plain notes uploaded through cgihost\n"
        r = self.c.post_multipart(path_of(form["attrs"]["action"]), fields,
                                  [("async-upload", "notes.txt", "text/plain", body)])
        expect(r.status in (200, 302), f"upload POST: {r.status}", r)
        stored = glob.glob(os.path.join(self.site, "wp-content", "uploads", "*", "*", "notes*.txt"))
        expect(stored, "the upload was not stored", r)
        url = "/" + os.path.relpath(stored[0], self.site)
        r = self.c.get(url)
        expect(r.status == 200 and r.body == body, f"GET {url}", r)
        r = self.c.get(url, headers={"Range": "bytes=6-10"})
        expect(r.status == 206 and r.body == b"notes", f"Range on {url}", r)
        expect(r.header("Content-Range") == f"bytes 6-10/{len(body)}", "Content-Range", r)

    def evil(self):
        r = self.c.get("/wp-content/uploads/evil.php")
        expect_status(r, 403, "GET /wp-content/uploads/evil.php")
        expect("EVILRAN" not in r.text and "<?php" not in r.text, "evil.php ran or its source leaked", r)


def behind_nginx(checks, proxy):
    def forwarded():
        c = Client(proxy.port, source="127.0.0.2")
        r = c.get("/probe.php")
        expect_status(r, 200, "probe.php through nginx")
        expect("REMOTE_ADDR=127.0.0.2\n" in r.text and "HTTPS=on\n" in r.text, "forwarded client/scheme", r)
        r = c.get("/wp-login.php")
        action = Forms(r.text).form(id="loginform")["attrs"]["action"]
        expect(action.startswith("https://"), f"the login form posts to {action} (is_ssl() false?)", r)

    checks.run("behind nginx: REMOTE_ADDR, HTTPS=on, WordPress builds https URLs", forwarded)
