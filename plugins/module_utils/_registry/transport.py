# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the one TLS stack every registry exchange goes through.

HTTP is the standard library's ``http.client``; TLS is ``ssl`` driven through memory buffers
(:class:`TLSSocket`), which reads the network in large pieces (a blob streams with half the system calls of an
``ssl.SSLSocket``) and sees the first bytes a server answers a handshake with (plain HTTP on a TLS port says so
itself). Every request runs against a deadline, so that a registry that answers a byte a minute cannot hold a
task forever, and every answer the collection keeps in memory is read up to a limit.

Credentials go to the registry itself only, never to a host it redirects to, and only over TLS whose
certificate was verified, unless the caller explicitly allows an unverified one, or over plain HTTP to an address of
the host's own loopback, where the caller says so (``loopback_credentials``: a registry published on loopback, whose
traffic never leaves the host). A redirect from https is followed to https only (a plain-HTTP registry the caller
chose may redirect to http or https): never a downgrade.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import threading
import time
from urllib.parse import urljoin, urlsplit

from ansible_collections.dockyard.registry.plugins.module_utils._names import as_ip
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import (
    CertificateVerifyError,
    PlainHTTPError,
    RegistryConnectionError,
    RegistryTLSError,
    ResponseTooLargeError,
    reason,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import MAX_ERROR_BYTES, MAX_REDIRECTS

RECEIVE_SIZE = 1 << 20  # what one read takes from the network at most
FIRST_BYTES = 256  # what is kept of a handshake's answer, to tell plain HTTP and name it
_TLS_RECORD_TYPES = range(0x14, 0x19)  # change_cipher_spec, alert, handshake, application_data, heartbeat
REDIRECTS = (301, 302, 303, 307, 308)


def first_bytes_kind(data: bytes) -> str:
    """``tls`` for a TLS record header, ``http`` for an HTTP response, ``other`` for anything else."""
    if len(data) >= 2 and data[0] in _TLS_RECORD_TYPES and data[1] == 0x03:
        return "tls"
    if data.startswith(b"HTTP/"):
        return "http"
    return "other"


def first_line(data: bytes, limit: int = 80) -> str:
    """The first line of an answer, printable, for a message: ``HTTP/1.1 400 Bad Request``."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:limit]
    return line.decode("ascii", "replace") if line else ""


class Deadline:
    """A point in time after which an exchange is abandoned, whatever the server still sends."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    def remaining(self, per_operation: float) -> float:
        """Seconds the next socket operation may take: ``per_operation``, or less as the deadline nears."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise self.exceeded()
        return min(per_operation, left)

    def passed(self) -> bool:
        # A socket operation armed with the time left times out at the deadline itself, give or take the clock.
        return time.monotonic() >= self.end - 0.01

    def exceeded(self) -> socket.timeout:
        return socket.timeout(f"{self.what} took longer than {self.seconds:g} seconds")


class _Stream:
    """A connected socket read and written within the connection's current deadline."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self.timeout = timeout
        self.deadline: Deadline | None = None
        # As socket.socket does: a reader made by makefile() keeps the socket open until it is closed too,
        # since http.client closes the connection before the body of a last answer is read.
        self._readers = 0
        self._closing = False

    def _arm(self) -> None:
        self._sock.settimeout(self.deadline.remaining(self.timeout) if self.deadline else self.timeout)

    def sendall(self, data) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *_args, **_kwargs):
        if mode != "rb":
            raise ValueError(f"only mode 'rb' is supported, not {mode!r}")
        self._readers += 1
        return io.BufferedReader(_Reader(self), RECEIVE_SIZE)

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closing = True
        if self._readers <= 0:
            self._sock.close()


class TLSSocket(_Stream):
    """A TLS client socket driven through memory buffers.

    ``context`` decides what is verified (certificate and host name, as ``wrap_socket`` would). A handshake
    answered in plain HTTP raises :class:`PlainHTTPError`; ``first_bytes`` keeps what the server sent first.
    """

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str | None, timeout: float,
                 deadline: Deadline | None = None) -> None:
        super().__init__(sock, timeout)
        self.deadline = deadline
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._ciphertext = memoryview(bytearray(RECEIVE_SIZE))
        self.first_bytes = b""

    def handshake(self) -> None:
        """The TLS handshake; ``ssl`` errors as ``ssl`` raises them, a plain HTTP answer as PlainHTTPError."""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                received = self._fill()
                if len(self.first_bytes) < FIRST_BYTES:
                    self.first_bytes += bytes(received[:FIRST_BYTES - len(self.first_bytes)])
                    self._judge_first_bytes()
            except ssl.SSLError:
                self._flush(quiet=True)
                self._judge_first_bytes(final=True)
                raise
        self._flush()

    def _judge_first_bytes(self, final: bool = False) -> None:
        if (len(self.first_bytes) >= 5 or final) and first_bytes_kind(self.first_bytes) == "http":
            raise PlainHTTPError("the server answered the TLS handshake in plain HTTP "
                                 f"({first_line(self.first_bytes)!r}): the port serves HTTP, not HTTPS",
                                 first_line(self.first_bytes))

    def _flush(self, quiet: bool = False) -> None:
        pending = self._outgoing.read()
        if pending:
            try:
                super().sendall(pending)
            except OSError:
                if not quiet:
                    raise

    def _fill(self) -> memoryview:
        count = super().recv_into(self._ciphertext)
        if count:
            self._incoming.write(self._ciphertext[:count])
        else:
            self._incoming.write_eof()
        return self._ciphertext[:count]

    def sendall(self, data) -> None:
        self.tls.write(data)
        self._flush()

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        view = memoryview(buffer)
        if nbytes:
            view = view[:nbytes]
        while True:
            try:
                return self.tls.read(len(view), view)
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0  # closed; http.client tells a short body from a complete one

    def peer_certificate(self) -> bytes | None:
        """The server's certificate, DER."""
        return self.tls.getpeercert(binary_form=True)

    def peer_chain(self) -> list[bytes]:
        """The certificates the server sent, leaf first, DER."""
        getter = getattr(self.tls, "get_unverified_chain", None)  # public from Python 3.13
        if getter is None:
            getter = self.tls._sslobj.get_unverified_chain  # Python 3.11 and 3.12: the same method, private
        return [item if isinstance(item, bytes) else item.public_bytes(2) for item in getter() or []]  # 2: DER


class _Reader(io.RawIOBase):
    def __init__(self, stream: _Stream) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._stream.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._stream.reader_closed()
        super().close()


class Connection(http.client.HTTPConnection):
    """One keep-alive connection to a registry (or a host it redirects to), over TLS or plain HTTP."""

    def __init__(self, scheme: str, host: str, port: int, context: ssl.SSLContext | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.scheme, self.context = scheme, context
        self.per_operation = timeout  # each socket operation's limit; self.timeout is the connect's, deadline-bound
        self.deadline: Deadline | None = None

    def connect(self) -> None:
        self.timeout = self.deadline.remaining(self.per_operation) if self.deadline else self.per_operation
        super().connect()  # the TCP connection, with TCP_NODELAY
        if self.scheme == "https":
            self.sock = TLSSocket(self.sock, self.context, self.host, self.per_operation, self.deadline)
            self.sock.handshake()
        else:
            self.sock = _Stream(self.sock, self.per_operation)
            self.sock.deadline = self.deadline

    def begin(self, deadline: Deadline) -> None:
        """Hold the next exchange on this connection to ``deadline``."""
        self.deadline = deadline
        if isinstance(self.sock, _Stream):
            self.sock.deadline = deadline


class Response:
    """An answer: its status and headers, and its body, read in full up to a limit or streamed.

    ``errors`` turns what goes wrong while the body is read (the deadline passing, the connection ending before the
    announced length) into the transport's errors, named like those of the request itself.
    """

    def __init__(self, raw: http.client.HTTPResponse, connection: Connection, url: str, errors=None) -> None:
        self.raw, self.connection, self.url = raw, connection, url
        self.status, self.reason = raw.status, raw.reason
        self._errors = errors or (lambda exc: RegistryConnectionError(f"reading the answer of {url} failed: "
                                                                      f"{reason(exc)}"))

    def header(self, name: str) -> str | None:
        return self.raw.getheader(name)

    @property
    def length(self) -> int | None:
        return self.raw.length

    def read(self, limit: int, what: str) -> bytes:
        """The whole body, or :class:`ResponseTooLargeError` once it passes ``limit`` bytes.

        A body that ends before its announced length is a connection broken off, not a shorter answer.
        """
        announced = self.raw.length
        if announced is not None and announced > limit:
            self.connection.close()
            raise ResponseTooLargeError(f"{what} is {announced} bytes, more than the {limit} this collection reads")
        try:
            body = self.raw.read(limit + 1)
            if announced is not None and len(body) < announced:
                raise http.client.IncompleteRead(body, announced - len(body))
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            raise self._errors(exc) from None
        if len(body) > limit:
            self.connection.close()
            raise ResponseTooLargeError(f"{what} is more than the {limit} bytes this collection reads")
        if not self.raw.isclosed():
            self.connection.close()
        return body

    def error_body(self, limit: int = MAX_ERROR_BYTES) -> bytes:
        """The start of an error's body, up to ``limit`` bytes, which is where Distribution's JSON is; the rest is
        never read. What cannot be read in time is left out: the status says what went wrong."""
        try:
            body = self.raw.read(limit)
        except (OSError, http.client.HTTPException):
            body = b""
        if not self.raw.isclosed():
            self.connection.close()
        return body

    def readinto(self, buffer) -> int:
        return self.raw.readinto(buffer)

    def discard(self, limit: int = 1 << 16) -> None:
        """Read and drop a short body so that the connection can serve the next request, or close it."""
        try:
            self.raw.read(limit)
        except (OSError, http.client.HTTPException):
            pass
        if not self.raw.isclosed():
            self.connection.close()

    def close(self) -> None:
        if not self.raw.isclosed():
            self.connection.close()


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` (host:port) names an address of the host's loopback by its IP (127.0.0.0/8, ::1); a name
    such as localhost is not taken: what it resolves to is not this code's to know."""
    try:
        address = as_ip(urlsplit(f"//{registry}").hostname)
    except ValueError:  # an unclosed bracket
        return False
    return address is not None and address.is_loopback


class Transport:
    """Requests to one registry: its address, what it is trusted with, and the credentials it may get.

    Each thread gets connections of its own (the blob verifier fetches several blobs at once), kept alive
    between requests. ``verify=False`` speaks TLS without checking the certificate, as the daemon does for an
    insecure registry; ``scheme="http"`` speaks plain HTTP. The ``Authorization`` header goes to the registry's
    own address only, and over verified TLS only unless ``credentials_unverified`` says otherwise, or, with
    ``loopback_credentials``, over plain HTTP where the registry's address is a loopback IP.
    """

    def __init__(self, registry: str, context_for, *, scheme: str = "https", verify: bool = True,
                 timeout: float = 60, authorization: str | None = None, credentials_unverified: bool = False,
                 loopback_credentials: bool = False) -> None:
        self.registry, self.scheme, self.verify, self.timeout = registry, scheme, verify, timeout
        self._context_for = context_for  # verify -> ssl.SSLContext
        self._authorization, self.credentials_unverified = authorization, credentials_unverified
        self.loopback_credentials = loopback_credentials and is_loopback(registry)
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()

    @property
    def sends_credentials(self) -> bool:
        if self.scheme == "http":
            return bool(self._authorization) and self.loopback_credentials
        return bool(self._authorization) and self.scheme == "https" and (self.verify or self.credentials_unverified)

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.registry}{path}"

    def request(self, method: str, path: str, headers: dict | None = None, deadline: Deadline | None = None,
                follow_redirects: bool = True, body: bytes | None = None) -> Response:
        """``method`` on ``path`` of the registry, following redirects; the errors of the network, named."""
        url = self.url(path)
        deadline = deadline or Deadline(self.timeout, f"{method} {url}")
        for _hop in range(MAX_REDIRECTS + 1):
            split = urlsplit(url)
            send = dict(headers or {})
            if self.sends_credentials and split.scheme == self.scheme and split.netloc == self.registry:
                send["Authorization"] = self._authorization
            response = self._exchange(method, split, send, deadline, url, body)
            location = response.header("Location")
            if not (follow_redirects and response.status in REDIRECTS and location):
                return response
            response.discard()
            url = self._redirect_target(url, location, method, path)
        raise RegistryConnectionError(f"registry {self.registry} redirected {method} {path} more than "
                                      f"{MAX_REDIRECTS} times")

    def _redirect_target(self, url: str, location: str, method: str, path: str) -> str:
        """Where a redirect from ``url`` leads: over https, from https; over https or http from a plain-HTTP registry
        (which the caller chose). A downgrade to plain HTTP, or another scheme, fails naming where it led."""
        target = urljoin(url, location)
        split, allowed = urlsplit(target), ("https",) if urlsplit(url).scheme == "https" else ("https", "http")
        if split.scheme not in allowed or not split.hostname:
            # Without user information or query: a redirect to storage may carry a signature there.
            shown = f"{split.scheme}://{split.netloc.rpartition('@')[2]}{split.path}"
            rule = "a redirect from https is followed to https only" if allowed == ("https",) else \
                "a redirect from a plain-HTTP registry is followed to http or https only"
            raise RegistryConnectionError(f"registry {self.registry} redirected {method} {path} to {shown}: {rule}")
        return target

    def _exchange(self, method, split, headers, deadline, url, body=None) -> Response:
        target = split.path + (f"?{split.query}" if split.query else "")
        for attempt in (1, 2):
            connection = self._connection(split.scheme, split.netloc)
            reused = connection.sock is not None
            connection.begin(deadline)
            try:
                connection.request(method, target, body=body, headers=headers)
                return Response(connection.getresponse(), connection, url,
                                lambda exc: self._connection_error(exc, method, url, deadline))
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                connection.close()
                if reused and attempt == 1:
                    continue  # a kept-alive connection the server had closed: once more on a new one
                raise self._connection_error(exc, method, url, deadline) from None
            except (OSError, http.client.HTTPException, PlainHTTPError) as exc:
                connection.close()
                raise self._connection_error(exc, method, url, deadline) from None
        raise AssertionError("unreachable")

    def _connection_error(self, exc: BaseException, method: str, url: str, deadline: Deadline | None = None
                          ) -> Exception:
        where = f"{self.scheme}://{self.registry}"
        if isinstance(exc, socket.timeout) and deadline is not None and deadline.passed():
            exc = deadline.exceeded()  # bytes kept coming, too slowly to finish in time
        if isinstance(exc, PlainHTTPError):
            return PlainHTTPError(f"registry {where}: {exc}", exc.first_line)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return CertificateVerifyError(f"TLS verification of {where} failed: {reason(exc)}")
        if isinstance(exc, ssl.SSLError):
            return RegistryTLSError(f"the TLS handshake with {where} failed: {exc.reason or exc}")
        if isinstance(exc, socket.timeout):
            detail = str(exc) if "longer than" in str(exc) else f"no answer within {self.timeout:g} seconds"
            return RegistryConnectionError(f"registry {where} did not answer {method} {url}: {detail} (option timeout)")
        if isinstance(exc, http.client.IncompleteRead):
            return RegistryConnectionError(f"registry {where} broke off its answer to {method} {url} after "
                                           f"{len(exc.partial)} of {len(exc.partial) + (exc.expected or 0)} bytes")
        if isinstance(exc, socket.gaierror):
            return RegistryConnectionError(f"cannot reach registry {where}: {urlsplit(url).hostname} does not "
                                           f"resolve ({exc.strerror})")
        return RegistryConnectionError(f"cannot reach registry {where}: {reason(exc)}")

    def _connection(self, scheme: str, netloc: str) -> Connection:
        connections = getattr(self._local, "connections", None)
        if connections is None:
            connections = self._local.connections = {}
        connection = connections.get((scheme, netloc))
        if connection is None:
            split = urlsplit(f"{scheme}://{netloc}")
            context = self._context_for(self.verify) if scheme == "https" else None
            connection = Connection(scheme, split.hostname, split.port or (443 if scheme == "https" else 80),
                                    context, self.timeout)
            connections[(scheme, netloc)] = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections = []
        self._local = threading.local()
