"""What the real-application tests share: a temp folder, a cgihost server
started from a config, an nginx reverse proxy in front of it, an HTTP client
with cookies, and a list of checks that each pass or fail with a reason.

Every process started here is stopped by its pid; every wait is bounded and
polls a condition."""

import html.parser
import http.client
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
import uuid

SKIP = 77  # ctest SKIP_RETURN_CODE


class Skip(Exception):
    """The test cannot run here (not root, a package missing)."""


def require(root=True, paths=()):
    if root and os.geteuid() != 0:
        raise Skip("needs root (cgihost drops to www-data; children run as accounts)")
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise Skip("missing " + ", ".join(missing) + " (scripts/setup.sh installs them)")


def wait_for(what, condition, timeout=15.0, interval=0.02):
    """Polls condition() until it returns a true value (returned) or the
    time is up (AssertionError naming what)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempDir:
    """A folder every account may traverse (the site lives in it), removed at the end."""

    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix=f"cgihost-{name}-")
        os.chmod(self.path, 0o755)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def write(self, rel, text, mode=0o644):
        path = self.join(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def chown_tree(path, user="www-data"):
    import pwd

    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in files:
            os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


def stop_process(proc, sig=signal.SIGTERM, grace=15.0):
    """Ends one process we started, by its pid: sig, then SIGKILL after grace."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


BASE_CONFIG = """listen = ["127.0.0.1:0"]
document_root = "{site}"

[identity]
process = "www-data"
anonymous = "www-data"

[log]
level = "info"
access_log = "{logs}/access.log"

[proxy]
trusted = ["127.0.0.1/32"]
"""


class Cgihost:
    """`cgihost serve -c CONFIG` as a child; the port it bound is read from
    its "listening on" line (it listens on 127.0.0.1:0)."""

    def __init__(self, binary, tmp, site, extra):
        logs = tmp.join("logs")
        os.makedirs(logs, exist_ok=True)
        os.chmod(logs, 0o777)
        self.config_text = BASE_CONFIG.format(site=site, logs=logs) + extra
        self.config = tmp.write("cgihost.toml", self.config_text)
        self.err_path = os.path.join(logs, "error.log")
        self.access_path = os.path.join(logs, "access.log")
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [binary, "serve", "-c", self.config],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            self.port = int(wait_for("cgihost's listening line", self._port))
        except BaseException:
            self.stop()
            raise

    def _port(self):
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", read_text(self.err_path))
        if m:
            return m.group(1)
        if self.proc.poll() is not None:
            raise AssertionError(
                f"cgihost exited with {self.proc.returncode}:\n{read_text(self.err_path)}"
            )
        return None

    def error_log(self):
        return read_text(self.err_path)

    def access_log(self):
        return read_text(self.access_path)

    def stop(self):
        stop_process(self.proc)


NGINX_CONFIG = """daemon off;
master_process on;
worker_processes 1;
user www-data;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_max_body_size 20m;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # TLS pretended terminated here.
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
}}
"""

NGINX = "/usr/sbin/nginx"


class Nginx:
    """nginx as a reverse proxy in front of cgihost, on a free 127.0.0.1 port,
    daemon off, its files in the temp folder."""

    def __init__(self, tmp, upstream_port):
        d = tmp.join("nginx")
        os.makedirs(d, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            conf = tmp.write(
                "nginx/nginx.conf", NGINX_CONFIG.format(d=d, port=self.port, upstream=upstream_port)
            )
            self.err_path = os.path.join(d, "error.log")
            self.proc = subprocess.Popen(
                [NGINX, "-p", d + "/", "-c", conf, "-e", self.err_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for("nginx to accept", self._accepting, timeout=10)
                return
            except AssertionError:
                stop_process(self.proc)
                if "Address already in use" not in read_text(self.err_path) or attempt == 2:
                    raise AssertionError("nginx did not start:\n" + read_text(self.err_path))

    def _accepting(self):
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited:\n" + read_text(self.err_path))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return f"HTTP {self.status}\n{head}\n{self.text[:1500]}"


class Client:
    """HTTP/1.1 to one port with a cookie jar; redirects are not followed
    unless asked. `source` binds the client's address (127.0.0.2 shows a
    forwarded client apart from the proxy's 127.0.0.1)."""

    def __init__(self, port, source=None):
        self.port = port
        self.source = source
        self.jar = http.cookiejar.CookieJar()

    def request(self, method, path, body=None, headers=None, timeout=60):
        url = f"http://127.0.0.1:{self.port}{path}"
        shadow = urllib.request.Request(url, method=method)
        self.jar.add_cookie_header(shadow)
        hdrs = {"Host": f"127.0.0.1:{self.port}", "User-Agent": "cgihost-apps-test"}
        if shadow.has_header("Cookie"):
            hdrs["Cookie"] = shadow.get_header("Cookie")
        hdrs.update(headers or {})
        src = (self.source, 0) if self.source else None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=src)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            self.jar.extract_cookies(r, shadow)
            return Response(r.status, r.headers, data)
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post_form(self, path, fields, headers=None):
        body = urllib.parse.urlencode(fields).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, body=body, headers=h)

    def post_multipart(self, path, fields, files, headers=None):
        """files: [(field, filename, content_type, bytes)]."""
        boundary = "----cgihost" + uuid.uuid4().hex
        parts = []
        for k, v in fields:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            )
        for field, filename, ctype, data in files:
            parts.append(
                (
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                    f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
                ).encode()
                + data
                + b"\r\n"
            )
        parts.append(f"--{boundary}--\r\n".encode())
        h = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        h.update(headers or {})
        return self.request("POST", path, body=b"".join(parts), headers=h)

    def follow(self, response, limit=5):
        """Follows a response's redirects with GET; returns the last response."""
        while response.status in (301, 302, 303, 307, 308) and limit > 0:
            loc = urllib.parse.urlsplit(response.header("Location", ""))
            path = (loc.path or "/") + (f"?{loc.query}" if loc.query else "")
            response = self.get(path)
            limit -= 1
        return response


class Forms(html.parser.HTMLParser):
    """Every <form> of a page with its fields (input, textarea, select's
    selected option) and every link/script/img URL, as a browser sees them."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.links = []
        self._textarea = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": a, "fields": []})
        elif tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        elif tag in ("img", "script") and "src" in a:
            self.links.append(a["src"])
        if not self.forms:
            return
        fields = self.forms[-1]["fields"]
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "image", "file"):
                return
            fields.append((a["name"], a.get("value") or ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None and self.forms:
            self.forms[-1]["fields"].append(tuple(self._textarea))
            self._textarea = None

    def form(self, **want):
        """The first form whose attributes include `want` (id="...", action=...)."""
        for f in self.forms:
            if all(f["attrs"].get(k) == v for k, v in want.items()):
                return f
        raise AssertionError(f"no form with {want} among {[f['attrs'] for f in self.forms]}")


def expect(cond, message, response=None):
    if not cond:
        raise AssertionError(message + (f"\n--- response ---\n{response!r}" if response else ""))


def expect_status(response, status, what):
    expect(response.status == status, f"{what}: expected {status}, got {response.status}", response)


class Checks:
    """Named checks of one application: each passes or fails with its reason;
    a failure does not stop the ones after it (they say what else works)."""

    def __init__(self, app):
        self.app = app
        self.results = []

    def run(self, name, fn):
        started = time.monotonic()
        try:
            fn()
        except Skip:
            raise
        except Exception as e:  # noqa: BLE001 - every failure is reported, not only assertions
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            self.results.append((name, False, detail))
            print(f"FAIL {self.app}: {name} ({time.monotonic() - started:.2f}s)\n{detail}\n", flush=True)
            return False
        self.results.append((name, True, ""))
        print(f"ok   {self.app}: {name} ({time.monotonic() - started:.2f}s)", flush=True)
        return True

    def failed(self):
        return [name for name, ok, _ in self.results if not ok]
