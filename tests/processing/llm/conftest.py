"""Tiny real HTTP servers on 127.0.0.1 for the LLM tests: a proxy in front of the llama.cpp server that counts
requests and fails some on purpose (429, 5xx, dropped connections), and the TGI stand-in in front of it."""

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from cursorcore.processing.llm.tgi_standin import StandinSettings, TGIStandin

# (method, path, body) -> (status, headers, body), or None to close the connection without an answer
Respond = Callable[[str, str, bytes], tuple[int, dict[str, str], bytes] | None]


class LocalHTTPServer:
    """A real HTTP server in a thread; `requests` records (method, path, body) of everything it received."""

    def __init__(self, respond: Respond):
        self.requests: list[tuple[str, str, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((self.command, self.path, body))
                answer = respond(self.command, self.path, body)
                if answer is None:
                    self.close_connection = True
                    return
                status, headers, payload = answer
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def posts(self) -> int:
        return sum(method == "POST" for method, _, _ in self.requests)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def forwarding(upstream: str, failures: list[int | None] | None = None) -> Respond:
    """Forward to `upstream`, after answering the first requests with the given failures (None = drop)."""
    pending = list(failures or [])
    lock = threading.Lock()
    target = urlparse(upstream)

    def respond(method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        with lock:
            failure = pending.pop(0) if pending else 0
        if failure is None:
            return None
        if failure:
            headers = {"Retry-After": "0"} if failure == 429 else {}
            return failure, headers, json.dumps({"error": f"injected {failure}"}).encode()
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        try:
            connection.request(method, path, body or None, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, {}, response.read()
        finally:
            connection.close()

    return respond


@pytest.fixture
def http_server() -> Iterator[Callable[[Respond], LocalHTTPServer]]:
    """Factory of `LocalHTTPServer`s, all closed at the end of the test."""
    servers: list[LocalHTTPServer] = []

    def start(respond: Respond) -> LocalHTTPServer:
        servers.append(LocalHTTPServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def proxy(http_server) -> Callable[..., LocalHTTPServer]:
    """Factory: `proxy(upstream_url, failures=[429, 503, None])` → a counting (and failing) proxy to upstream."""

    def start(upstream: str, failures: list[int | None] | None = None) -> LocalHTTPServer:
        return http_server(forwarding(upstream, failures))

    return start


@pytest.fixture
def standin(llm_server) -> Iterator[Callable[..., TGIStandin]]:
    """Factory: `standin(**settings)` → a TGI stand-in (StandinSettings) in front of the session's llama.cpp server."""
    started: list[TGIStandin] = []

    def start(**settings) -> TGIStandin:
        started.append(TGIStandin(StandinSettings(upstream=llm_server.base_url, **settings)).serve())
        return started[-1]

    yield start
    for server in started:
        server.close()
