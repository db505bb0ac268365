"""A Slim/Laravel-style front controller: one index.php with a route table
behind `fallback = "/index.php"`, through a php-cgi pool, then behind nginx."""

import json
import os

from harness import Cgihost, Client, Nginx, TempDir, expect, expect_status, require

PHP_CGI = "/usr/bin/php-cgi"

INDEX_PHP = r"""<?php
// A front controller as Slim or Laravel writes one: the route table is
// matched against the path of REQUEST_URI, what the client asked for.
$routes = [
    ['GET', '#^/$#', 'home'],
    ['GET', '#^/hello/([^/]+)$#', 'hello'],
    ['POST', '#^/api/items$#', 'create'],
    ['GET', '#^/env$#', 'env'],
];
$path = rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
$method = $_SERVER['REQUEST_METHOD'];
$out = ['server' => [], 'get' => $_GET, 'post' => $_POST, 'body' => file_get_contents('php://input')];
foreach (['REQUEST_URI', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_METHOD',
          'CONTENT_TYPE', 'REMOTE_ADDR', 'HTTPS', 'REQUEST_SCHEME', 'SERVER_PORT',
          'HTTP_X_FORWARDED_FOR'] as $k) {
    $out['server'][$k] = $_SERVER[$k] ?? null;
}
header('Content-Type: application/json');
foreach ($routes as [$m, $re, $name]) {
    if (!preg_match($re, $path, $args)) continue;
    if ($m !== $method) {
        http_response_code(405);
        header("Allow: $m");
        echo json_encode(['error' => 'method not allowed'] + $out);
        exit;
    }
    $out['route'] = $name;
    $out['args'] = array_slice($args, 1);
    if ($name === 'create' && str_starts_with($_SERVER['CONTENT_TYPE'] ?? '', 'application/json')) {
        $out['json'] = json_decode($out['body'], true);
        http_response_code(201);
        header('Location: /api/items/7');
    }
    echo json_encode($out);
    exit;
}
http_response_code(404);
echo json_encode(['error' => 'no route', 'path' => $path] + $out);
"""

OTHER_PHP = r"""<?php
header('Content-Type: application/json');
echo json_encode(['script' => 'other', 'SCRIPT_NAME' => $_SERVER['SCRIPT_NAME'],
                  'PATH_INFO' => $_SERVER['PATH_INFO'] ?? null]);
"""

CONFIG = """
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"

[pools.php]
command = ["{php}"]
max_instances = 2

[static]
index = ["index.php", "index.html"]

[[locations]]
prefix = "/"
fallback = "/index.php"
"""


def site(tmp):
    tmp.write("site/index.php", INDEX_PHP)
    tmp.write("site/other.php", OTHER_PHP)
    tmp.write("site/assets/app.css", "body { color: teal }\n")
    tmp.write("site/docs/index.html", "<p>docs index</p>\n")
    tmp.write("site/.env", "APP_KEY=secret\n")
    return tmp.join("site")


def app_json(r, what):
    expect(r.header("Content-Type", "").startswith("application/json"), f"{what}: not the app's JSON", r)
    return json.loads(r.body)


def run(binary, checks):
    require(paths=[PHP_CGI, "/usr/sbin/nginx"])
    tmp = TempDir("frontcontroller")
    srv = proxy = None
    try:
        root = site(tmp)
        srv = Cgihost(binary, tmp, root, CONFIG.format(php=PHP_CGI))
        c = Client(srv.port)
        scenario(checks, c, root)
        proxy = Nginx(tmp, srv.port)
        behind_nginx(checks, proxy, srv)
    finally:
        if proxy:
            proxy.stop()
        if srv:
            srv.stop()
            if checks.failed():
                print("--- cgihost error log ---\n" + srv.error_log()[-4000:])
        tmp.remove()


def scenario(checks, c, root):
    def home():
        r = c.get("/")
        expect_status(r, 200, "GET / (index.php as the default document)")
        j = app_json(r, "GET /")
        expect(j.get("route") == "home", f"route {j.get('route')}", r)
        expect(j["server"]["SCRIPT_NAME"] == "/index.php", f"SCRIPT_NAME {j['server']['SCRIPT_NAME']}", r)

    def route_with_query():
        r = c.get("/hello/w%C3%B6rld?x=1&y=a%20b&z=%26amp")
        expect_status(r, 200, "GET /hello/w%C3%B6rld?...")
        j = app_json(r, "route")
        s = j["server"]
        expect(j.get("route") == "hello" and j["args"] == ["wörld"], f"route {j.get('route')} {j.get('args')}", r)
        expect(s["REQUEST_URI"] == "/hello/w%C3%B6rld?x=1&y=a%20b&z=%26amp", f"REQUEST_URI {s['REQUEST_URI']}")
        expect(s["QUERY_STRING"] == "x=1&y=a%20b&z=%26amp", f"QUERY_STRING {s['QUERY_STRING']}")
        expect(j["get"] == {"x": "1", "y": "a b", "z": "&amp"}, f"$_GET {j['get']}")
        expect(s["SCRIPT_NAME"] == "/index.php", f"SCRIPT_NAME {s['SCRIPT_NAME']}")
        expect(s["SCRIPT_FILENAME"] == os.path.join(root, "index.php"), f"SCRIPT_FILENAME {s['SCRIPT_FILENAME']}")
        expect(s["PATH_INFO"] in (None, ""), f"PATH_INFO should be empty, is {s['PATH_INFO']!r}")

    def app_404():
        r = c.get("/no/such/page?q=1")
        expect_status(r, 404, "a path no route matches")
        j = app_json(r, "the app's 404")
        expect(j.get("error") == "no route" and j["path"] == "/no/such/page", f"{j}", r)

    def app_405():
        r = c.post_form("/hello/x", {"a": "b"})
        expect_status(r, 405, "POST to a GET route (the app's 405)")
        expect(r.header("Allow") == "GET", f"Allow {r.header('Allow')}", r)

    def post_urlencoded():
        fields = [("name", "café & co"), ("tags[]", "a"), ("tags[]", "b=c")]
        r = c.post_form("/api/items?draft=1", fields)
        expect_status(r, 200, "POST urlencoded")
        j = app_json(r, "POST urlencoded")
        expect(j["post"] == {"name": "café & co", "tags": ["a", "b=c"]}, f"$_POST {j['post']}", r)
        expect(j["get"] == {"draft": "1"}, f"$_GET {j['get']}")
        expect(j["server"]["REQUEST_URI"] == "/api/items?draft=1", f"REQUEST_URI {j['server']['REQUEST_URI']}")

    def post_json():
        body = json.dumps({"title": "ünïcode", "n": [1, 2, 3], "pad": "x" * 70000}).encode()
        r = c.request("POST", "/api/items", body=body, headers={"Content-Type": "application/json"})
        expect_status(r, 201, "POST JSON")
        j = app_json(r, "POST JSON")
        expect(j["body"].encode() == body, f"raw body differs ({len(j['body'])} of {len(body)} bytes)")
        expect(j["json"]["title"] == "ünïcode", f"decoded {str(j['json'])[:80]}")
        expect(r.header("Location") == "/api/items/7", f"Location {r.header('Location')}", r)

    def existing_files():
        r = c.get("/assets/app.css")
        expect_status(r, 200, "a static file under the fallback's prefix")
        expect(r.text == "body { color: teal }\n", "the file, not the controller", r)
        r = c.get("/docs/")
        expect(r.status == 200 and "docs index" in r.text, "a folder's index.html", r)
        r = c.get("/other.php/extra?k=v")
        expect_status(r, 200, "another existing script")
        j = app_json(r, "other.php")
        expect(j.get("script") == "other" and j["SCRIPT_NAME"] == "/other.php", f"{j}", r)
        expect(j["PATH_INFO"] == "/extra", f"PATH_INFO {j['PATH_INFO']!r}", r)

    def dotfile_refused():
        r = c.get("/.env")
        expect_status(r, 404, "/.env (request filtering before the fallback)")
        expect("APP_KEY" not in r.text and "no route" not in r.text, "refused by cgihost, not the app", r)

    def untrusted_forwarded():
        c2 = Client(c.port, source="127.0.0.2")
        r = c2.get("/env", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
        s = app_json(r, "GET /env from an untrusted peer")["server"]
        expect(s["REMOTE_ADDR"] == "127.0.0.2", f"REMOTE_ADDR {s['REMOTE_ADDR']} (forged header believed?)", r)
        expect(s["HTTPS"] in (None, "", "off"), f"HTTPS {s['HTTPS']!r} from an untrusted peer", r)
        expect(s["HTTP_X_FORWARDED_FOR"] == "203.0.113.9", f"HTTP_X_FORWARDED_FOR {s['HTTP_X_FORWARDED_FOR']}")

    for name, fn in [
        ("GET / runs index.php as the default document", home),
        ("route with query string: REQUEST_URI, QUERY_STRING, SCRIPT_NAME, empty PATH_INFO", route_with_query),
        ("the app's own 404 for an unknown path", app_404),
        ("the app's own 405", app_405),
        ("POST urlencoded arrives intact", post_urlencoded),
        ("POST JSON (70 kB) arrives intact; 201 + Location", post_json),
        ("existing files and scripts are not sent to the fallback", existing_files),
        ("/.env refused (404) before the fallback", dotfile_refused),
        ("X-Forwarded-* from an untrusted peer ignored", untrusted_forwarded),
    ]:
        checks.run(name, fn)


def behind_nginx(checks, proxy, srv):
    def forwarded():
        c = Client(proxy.port, source="127.0.0.2")
        r = c.get("/env?via=nginx")
        expect_status(r, 200, "GET /env through nginx")
        s = app_json(r, "through nginx")["server"]
        expect(s["REMOTE_ADDR"] == "127.0.0.2", f"REMOTE_ADDR {s['REMOTE_ADDR']} (want the client's)", r)
        expect(s["HTTPS"] == "on" and s["REQUEST_SCHEME"] == "https", f"HTTPS {s['HTTPS']!r} scheme {s['REQUEST_SCHEME']!r}", r)
        expect(s["SERVER_PORT"] == "443", f"SERVER_PORT {s['SERVER_PORT']} (https's default)", r)
        expect(s["REQUEST_URI"] == "/env?via=nginx", f"REQUEST_URI {s['REQUEST_URI']}")

    checks.run("behind nginx: REMOTE_ADDR is the client's, HTTPS=on", forwarded)
