"""The CLI pointed at something that is not a RedRunner server: a usage error for a URL that is not a
server's at all (exit 2, not "unreachable" 3), and one clear line, never the raw page, for a web server
that answers with HTML."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli.conftest import client_env, redrunner

PAGE = b"<!DOCTYPE html>\n<html><head><title>Welcome\x1b]0;pwned\x07</title></head>\n<body>" + b"<p>x</p>\n" * 200


class HtmlHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # A page for the stdout path (200), a "not found" page for the API's others.
        self.send_response(200 if self.path.endswith("/stdout") else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def html_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), HtmlHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("url", ["ftp://x", "http://"])
def test_a_url_that_is_no_servers_is_a_usage_error(url: str) -> None:
    result = redrunner("jobs", "--url", url, env=client_env())
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and "is not a server URL" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [("jobs",), ("logs", "1")])
def test_an_html_answer_is_one_clear_line(html_url: str, args: tuple[str, ...]) -> None:
    result = redrunner(*args, "--url", html_url, env=client_env())
    assert result.returncode == 2, result
    assert result.stdout == "", result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert "not as a RedRunner server" in result.stderr and "text/html" in result.stderr, result.stderr
    assert "<html" not in result.stderr and "\x1b" not in result.stderr
