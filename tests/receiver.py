"""A real local HTTP receiver that answers in scripted ways, for outbound postback tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Hit:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Receiver:
    url: str
    hits: list[Hit] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Answer in one write with Nagle off: headers and body sent apart meet the client's
        # delayed ACK and cost ~40 ms per request, which would make the receiver the bottleneck.
        wbufsize = 65536
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.hits.append(Hit(parts.path, parts.query, headers, body))
            behaviour = parts.path.strip("/").split("/")[0]
            getattr(self, f"_{behaviour}", self._ok)()

        def _reply(
            self, code: int, body: bytes = b"ok", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _ok(self) -> None:
            self._reply(200)

        def _fail(self) -> None:
            self._reply(500, b"boom \x00\x01 <html>" + b"x" * 5000)

        def _flaky(self) -> None:
            # Fails the first request to its path, then answers 200: a receiver that was down.
            if [h.path for h in receiver.hits].count(urlsplit(self.path).path) == 1:
                self._reply(500, b"down for maintenance")
            else:
                self._reply(200)

        def _echo(self) -> None:
            # A receiver that echoes the request it refused, credentials and all.
            self._reply(500, f"bad request: {self.command} {self.path}".encode())

        def _gone(self) -> None:
            self._reply(410, b"gone")

        def _busy(self) -> None:
            self._reply(503, b"busy", {"Retry-After": "7200"})

        def _forever(self) -> None:
            # A Retry-After far past what a timedelta holds.
            self._reply(503, b"busy", {"Retry-After": "1000000000000000"})

        def _redirect(self) -> None:
            self._reply(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"})

        def _slow(self) -> None:
            time.sleep(1.5)
            self._reply(200)

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            for _ in range(100):
                time.sleep(0.1)
                self.wfile.write(b"x")
                self.wfile.flush()

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
