"""A TLS server of a test's own that answers as the test tells it: a broken or hostile registry.

Each request goes to the test's ``answer(exchange)``, which sends whatever it likes: a body without end, a byte
at a time, a connection cut in the middle of a blob. The server records every request (method, path, headers)
and counts the body bytes it managed to send, so that a test can prove what the client asked for and how much
it read before it stopped. It listens on this machine's non-loopback address, with a certificate from a CA of
the test (trusted through certs.d, or not at all).
"""

from __future__ import annotations

import dataclasses
import http.server
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Self

from scratch_registry import ServerCertificate

API_VERSION = {"Docker-Distribution-Api-Version": "registry/2.0"}


@dataclasses.dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


class Exchange:
    """One request and the means to answer it."""

    def __init__(self, handler: http.server.BaseHTTPRequestHandler, server: HostileServer) -> None:
        self.handler, self.server = handler, server
        self.method, self.path = handler.command, handler.path
        self.headers = {name.lower(): value for name, value in handler.headers.items()}

    def send(self, status: int, headers: dict | None = None, body: bytes | Iterable[bytes] = b"", *,
             length: int | None = None, delay: float = 0.0) -> None:
        """Answer ``status`` with ``headers`` and ``body`` (bytes, or pieces sent ``delay`` seconds apart).

        ``length`` is the Content-Length announced: by default the length of bytes, none for pieces (the
        connection then ends the body). Sending stops quietly once the client has gone.
        """
        handler = self.handler
        if isinstance(body, bytes):
            length = len(body) if length is None else length
            body = [body]
        try:
            handler.send_response(status)
            for name, value in {**API_VERSION, **(headers or {})}.items():
                handler.send_header(name, str(value))
            if length is not None:
                handler.send_header("Content-Length", str(length))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.flush()
            if self.method == "HEAD":
                return
            for piece in body:
                if self.server.stopping.is_set():
                    return
                handler.wfile.write(piece)
                handler.wfile.flush()
                self.server.count(len(piece))
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            return
        finally:
            handler.close_connection = True

    def drip_headers(self, status: int, delay: float) -> None:
        """The status line, then one byte of a header every ``delay`` seconds, never ending the headers."""
        handler = self.handler
        try:
            handler.wfile.write(f"HTTP/1.1 {status} OK\r\nX-Slow: ".encode())
            handler.wfile.flush()
            while not self.server.stopping.is_set():
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return
        finally:
            handler.close_connection = True

    def cut(self, status: int, headers: dict, data: bytes, length: int) -> None:
        """Announce ``length`` bytes, send ``data`` (fewer), and close the connection: a transfer broken off."""
        self.send(status, headers, data, length=length)
        try:
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TLSServer

    def _dispatch(self) -> None:
        hostile = self.server.hostile
        hostile.record(Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        hostile.answer(Exchange(self, hostile))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _dispatch

    def log_message(self, *_args) -> None:  # the test reads the record, not stderr
        pass


class _TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, context: ssl.SSLContext, hostile: HostileServer) -> None:
        super().__init__(address, _Handler)
        self.context, self.hostile = context, hostile

    def get_request(self):
        sock, address = super().get_request()
        sock.settimeout(60)
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:  # a client that hangs up is no error here
        pass


class HostileServer:
    """HTTPS on ``ip:port`` with ``certificate``; ``answer(exchange)`` answers every request.

    Use it as a context manager. ``requests`` lists what came in, ``sent`` counts the body bytes sent.
    """

    def __init__(self, ip: str, port: int, certificate: ServerCertificate, answer: Callable[[Exchange], None]) -> None:
        self.ip, self.port, self.answer = ip, port, answer
        self.requests: list[Recorded] = []
        self.sent = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._files = tempfile.TemporaryDirectory(prefix="dockyard-hostile-")
        cert, key = Path(self._files.name) / "server.crt", Path(self._files.name) / "server.key"
        cert.write_bytes(certificate.pem)
        key.write_bytes(certificate.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._server = _TLSServer((ip, port), context, self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def count(self, sent: int) -> None:
        with self._lock:
            self.sent += sent

    def paths(self, method: str | None = None) -> list[str]:
        return [request.path for request in self.requests if method is None or request.method == method]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._files.cleanup()
