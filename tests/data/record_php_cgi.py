#!/usr/bin/env python3
"""Records one real FastCGI exchange with php-cgi, for the decoder tests.

Run from the repository root (needs php8.2-cgi):
    python3 tests/data/record_php_cgi.py
It starts `php-cgi -b 127.0.0.1:PORT`, sends one request for
tests/data/hello.php (the records are built here, independently of
cgihost's encoder), and writes what php-cgi answered, byte for byte, to
tests/data/php-cgi-hello.fcgi. php-cgi is stopped by its pid.
"""
import os, socket, struct, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(here, "hello.php")

def record(rtype, rid, content):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0) + content + b"\0" * pad

def nv(name, value):
    def ln(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value

params = {
    b"GATEWAY_INTERFACE": b"CGI/1.1", b"REQUEST_METHOD": b"GET", b"QUERY_STRING": b"x=1",
    b"SCRIPT_FILENAME": script.encode(), b"SCRIPT_NAME": b"/hello.php", b"REQUEST_URI": b"/hello.php?x=1",
    b"SERVER_PROTOCOL": b"HTTP/1.1", b"SERVER_NAME": b"localhost", b"SERVER_PORT": b"80",
    b"REMOTE_ADDR": b"127.0.0.1", b"REDIRECT_STATUS": b"200",
}
body = b"".join(nv(k, v) for k, v in params.items())
request = (record(1, 1, struct.pack(">HB5x", 1, 0)) + record(4, 1, body) + record(4, 1, b"")
           + record(5, 1, b""))

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
php = subprocess.Popen(["php-cgi", "-b", f"127.0.0.1:{port}"], env={"PATH": "/usr/bin:/bin", "PHP_FCGI_CHILDREN": "0"})
try:
    for _ in range(100):
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("php-cgi did not listen")
    c.sendall(request)
    answer = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        answer += chunk
    c.close()
finally:
    php.terminate()
    php.wait(timeout=10)

with open(os.path.join(here, "php-cgi-hello.fcgi"), "wb") as f:
    f.write(answer)
print(f"recorded {len(answer)} bytes")
