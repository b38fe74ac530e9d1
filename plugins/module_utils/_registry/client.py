# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: manifests and blobs of one registry (Distribution API v2).

The client trusts exactly what the Docker daemon on the same host trusts for the registry (``daemon_trust``). For a
registry the daemon treats as insecure it does what the daemon does: TLS without verifying the certificate,
and plain HTTP where the registry does not speak TLS. It first tries TLS that verifies all the same: only a
verified registry gets the credentials, unless the caller allows an unverified one explicitly, and a password
never goes over plain HTTP, but to a registry the caller names on a loopback IP of this host (``loopback_http``),
whose traffic never leaves the host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from urllib.parse import urlsplit

from ansible_collections.dockyard.registry.plugins.module_utils._digest import DigestError, parse_digest
from ansible_collections.dockyard.registry.plugins.module_utils._reference import ImageReference
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import (
    Credentials,
    unauthorized_message,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.daemon_trust import Trust
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import (
    CertificateVerifyError,
    ManifestUnknownError,
    PlainHTTPError,
    RegistryAuthError,
    RegistryError,
    RegistryTLSError,
    error_detail,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import (
    DIGEST_HEADER,
    MANIFEST_ACCEPT,
    MAX_MANIFEST_BYTES,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.transport import (
    Deadline,
    Transport,
    is_loopback,
)

DEFAULT_TIMEOUT = 60
MAX_LIST_BYTES = 4 << 20  # one page of the catalog or of a repository's tags
MAX_CONFIG_BYTES = 4 << 20  # an image's config, read whole (Distribution takes configs of any size; these are small)
LIST_PAGE = 1000
MAX_PAGES = 1000
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
TEST_UPLOAD_SIZE = 64 << 10  # bytes of the upload that asks a failing registry why it fails
# A blob's deadline grows with its size: the timeout, plus the time the blob takes at this rate, but by no more than
# MAX_BLOB_EXTENSION: the size is what the manifest declares, and a hostile one may declare a petabyte. A blob larger
# than MIN_BLOB_RATE * MAX_BLOB_EXTENSION (about 5.3 GiB) has to come faster than MIN_BLOB_RATE.
MIN_BLOB_RATE = 256 << 10  # bytes a second
MAX_BLOB_EXTENSION = 6 * 60 * 60  # seconds


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it: ``content`` is the exact bytes, ``digest`` its header."""

    content: bytes
    media_type: str | None
    digest: str | None


class RegistryClient:
    """Manifests and blobs of one registry. Use it as a context manager: it holds a pool of connections.

    ``insecure`` treats the registry as the daemon treats one in its ``insecure-registries``;
    ``credentials_unverified`` lets the credentials go to a registry whose certificate was not verified;
    ``loopback_http`` speaks plain HTTP, credentials included, to a registry on a loopback IP of this host (a
    registry container published on loopback behind an authenticating proxy), and refuses any other address.
    """

    def __init__(self, registry: str, ca_path: str | None = None, timeout: int = DEFAULT_TIMEOUT,
                 insecure: bool = False, credentials: Credentials | None = None,
                 credentials_unverified: bool = False, trust: Trust | None = None, loopback_http: bool = False) -> None:
        if loopback_http and not is_loopback(registry):
            raise RegistryError(f"{registry} is not a loopback IP address with a port (such as 127.0.0.1:15000): "
                                "plain HTTP with credentials goes to the host's own loopback only")
        self.registry, self.timeout, self.insecure = registry, timeout, insecure
        self.credentials, self.credentials_unverified = credentials, credentials_unverified
        self.loopback_http = loopback_http
        self.trust = trust or Trust.for_registry(registry, ca_path)
        self.transport = self._transport("http" if loopback_http else "https", verify=not loopback_http)
        # An insecure registry's scheme and verification are found on first use.
        self._settled = loopback_http or not insecure
        self._settling = threading.Lock()

    @property
    def scheme(self) -> str:
        return self.transport.scheme

    @property
    def verified(self) -> bool:
        return self.transport.scheme == "https" and self.transport.verify

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def _transport(self, scheme: str, verify: bool) -> Transport:
        return Transport(self.registry, self.trust.context, scheme=scheme, verify=verify, timeout=self.timeout,
                         authorization=self.credentials.basic if self.credentials else None,
                         credentials_unverified=self.credentials_unverified, loopback_credentials=self.loopback_http)

    # Manifests

    def head_manifest(self, reference: ImageReference) -> str:
        """The ``Docker-Content-Digest`` the registry reports for ``reference`` (tag or digest)."""
        response = self._manifest_request("HEAD", reference)
        response.discard()
        digest = response.header(DIGEST_HEADER)
        if not digest:
            raise RegistryError(f"HEAD {response.url} answered {response.status} without a {DIGEST_HEADER} "
                                "header, so the registry does not say which manifest it serves")
        return self._valid_digest(digest, response.url)

    def get_manifest(self, reference: ImageReference) -> Manifest:
        """The manifest for ``reference``, its bytes untouched (their sha256 is the manifest's digest)."""
        response = self._manifest_request("GET", reference)
        content = response.read(MAX_MANIFEST_BYTES, f"the manifest at {response.url}")
        header = response.header(DIGEST_HEADER)
        digest = self._valid_digest(header, response.url) if header else None
        return Manifest(content, response.header("Content-Type"), digest)

    def _manifest_request(self, method: str, reference: ImageReference):
        path = f"/v2/{reference.repository}/manifests/{reference.manifest_reference}"
        response = self.request(method, path, {"Accept": MANIFEST_ACCEPT})
        if response.status >= 400:
            body = response.error_body()  # of a HEAD, none: but it marks the answer read, freeing the connection
            separator = "@" if reference.digest else ":"
            wanted = f"{reference.repository}{separator}{reference.manifest_reference}"
            if response.status == 401:
                raise RegistryAuthError(self.unauthorized(f"{method} of the manifest of {wanted}",
                                                          response.header("WWW-Authenticate") or ""))
            if response.status == 404:
                raise ManifestUnknownError(
                    f"manifest unknown: registry {reference.registry} has no manifest for {wanted} (404)")
            raise RegistryError(f"registry {reference.registry} answered {response.status} {response.reason} to "
                                f"{method} of the manifest of {wanted}{error_detail(body)}")
        return response

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """DELETE the manifest ``digest`` (and so every tag that points to it); False if it was gone already."""
        what = f"DELETE of the manifest {repository}@{digest}"
        response = self.request("DELETE", f"/v2/{repository}/manifests/{digest}")
        body = response.error_body()
        if response.status in (200, 202):
            return True
        if response.status == 404:
            return False
        self._raise(response, what, body)
        return False  # not reached

    # Listing

    def catalog(self) -> list[str]:
        """Every repository the registry lists in ``/v2/_catalog``, page after page."""
        return self._paged(f"/v2/_catalog?n={LIST_PAGE}", "repositories", "the catalog")

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``; none for a repository the registry does not know (any more)."""
        try:
            return self._paged(f"/v2/{repository}/tags/list?n={LIST_PAGE}", "tags", f"the tags of {repository}")
        except ManifestUnknownError:
            return []

    def _paged(self, path: str, key: str, what: str) -> list[str]:
        items: list[str] = []
        for _page in range(MAX_PAGES):
            response = self.request("GET", path)
            if response.status >= 400:
                self._raise(response, f"GET of {what}", response.error_body())
            content = response.read(MAX_LIST_BYTES, f"a page of {what}")
            try:
                page = json.loads(content).get(key) or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{response.url} did not answer with JSON listing {key}") from None
            items.extend(str(item) for item in page)
            link = _NEXT_LINK.search(response.header("Link") or "")
            if not link:
                return items
            split = urlsplit(link.group(1))
            path = split.path + (f"?{split.query}" if split.query else "")
        raise RegistryError(f"{what} runs to more than {MAX_PAGES} pages of {LIST_PAGE}")

    def _raise(self, response, what: str, body: bytes) -> None:
        if response.status == 401:
            raise RegistryAuthError(self.unauthorized(what, response.header("WWW-Authenticate") or ""))
        if response.status == 404:
            raise ManifestUnknownError(f"registry {self.registry} answered 404 to {what}{error_detail(body)}")
        if response.status == 403:
            raise RegistryAuthError(
                f"registry {self.registry} answered 403 Forbidden to {what}: the account "
                f"({self.credentials.describe() if self.credentials else 'anonymous'}) may not do that; deleting "
                f"needs a push account whose repositories cover it{error_detail(body)}")
        if response.status == 405:
            raise RegistryError(f"registry {self.registry} answered 405 to {what}: it does not allow deletes "
                                f"(storage.delete.enabled, or read-only maintenance){error_detail(body)}")
        raise RegistryError(f"registry {self.registry} answered {response.status} {response.reason} to "
                            f"{what}{error_detail(body)}")

    # Blobs

    def get_json_blob(self, repository: str, digest: str, limit: int = MAX_CONFIG_BYTES) -> dict:
        """A small JSON blob (an image's config), read whole and checked against its digest."""
        what = f"the blob {repository}@{digest}"
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}")
        if response.status >= 400:
            self._raise(response, f"GET of {what}", response.error_body())
        content = response.read(limit, what)
        found = f"sha256:{hashlib.sha256(content).hexdigest()}"
        if found != digest:
            raise RegistryError(f"{what} hashes to {found}, not to its digest")
        try:
            value = json.loads(content)
        except ValueError as exc:
            raise RegistryError(f"{what} is not JSON: {exc}") from None
        return value if isinstance(value, dict) else {}

    def blob_deadline(self, size: int, what: str) -> Deadline:
        return Deadline(self.timeout + min(size / MIN_BLOB_RATE, MAX_BLOB_EXTENSION), what)

    def upload_problem(self, repository: str, size: int = TEST_UPLOAD_SIZE) -> str | None:
        """What the registry answers an upload of ``size`` zero bytes to ``repository`` with, or None if it takes it.

        The upload is cancelled as soon as it is answered: no blob is made. The Docker daemon reports a registry's
        server error by its status alone; the registry's own words (a storage full, say) are in its error body.
        """
        try:
            started = self.request("POST", f"/v2/{repository}/blobs/uploads/", {"Content-Length": "0"}, body=b"")
            detail = error_detail(started.error_body())
            location = started.header("Location")
            if started.status != 202 or not location:
                return f"{started.status} {started.reason} to the start of an upload{detail}"
            upload = self.relative(location)
            if upload is None:
                return None
            sent = self.request("PATCH", upload, {"Content-Type": "application/octet-stream",
                                                  "Content-Length": str(size)}, body=bytes(size))
            detail = error_detail(sent.error_body())
            problem = None if sent.status < 300 else f"{sent.status} {sent.reason}{detail}"
            self.request("DELETE", upload).discard()
        except RegistryError as exc:
            return str(exc)
        return problem

    def relative(self, location: str) -> str | None:
        """An upload's ``Location`` as a path on this registry (query included), or None where it names another."""
        split = urlsplit(location)
        if split.netloc and split.netloc != self.registry:
            return None
        return split.path + (f"?{split.query}" if split.query else "")

    # Every request

    def request(self, method: str, path: str, headers: dict | None = None, deadline: Deadline | None = None,
                body: bytes | None = None):
        """A request to the registry; the first one to an insecure registry settles how it is reached."""
        try:
            return self._request(method, path, headers, deadline, body)
        except CertificateVerifyError as exc:
            raise CertificateVerifyError(f"{exc}. Trusted CAs: {self.trust.source}; {self.trust.fix}") from None

    def _request(self, method: str, path: str, headers: dict | None, deadline: Deadline | None, body: bytes | None):
        if self._settled:
            return self.transport.request(method, path, headers, deadline, body=body)
        with self._settling:  # the blob verifier's workers wait for the first of them to settle it
            if self._settled:
                return self.transport.request(method, path, headers, deadline, body=body)
            return self._settle(method, path, headers, deadline, body)

    def _settle(self, method: str, path: str, headers: dict | None, deadline: Deadline | None, body: bytes | None):
        # As the daemon falls back for an insecure registry: TLS (verified if the registry passes, so that the
        # credentials may go), then plain HTTP where the registry does not speak TLS.
        for scheme, verify in (("https", True), ("https", False)):
            self.transport.close()
            self.transport = self._transport(scheme, verify)
            try:
                response = self.transport.request(method, path, headers, deadline, body=body)
            except PlainHTTPError:
                break
            except RegistryTLSError:
                continue
            self._settled = True
            return response
        if self.credentials:
            raise RegistryAuthError(
                f"registry {self.registry} does not speak TLS, and credentials ({self.credentials.describe()}) are "
                "not sent over plain HTTP, where anyone on the path reads them: serve the registry over TLS "
                "(registry_tls: true)")
        self.transport.close()
        self.transport = self._transport("http", verify=False)
        self._settled = True
        return self.transport.request(method, path, headers, deadline, body=body)

    def unauthorized(self, what: str, challenge: str = "") -> str:
        """The message for a 401: log in, other credentials, or credentials withheld from an unverified registry."""
        if self.credentials and not self.transport.sends_credentials and self.scheme == "https":
            return (f"registry {self.registry} answered 401 Unauthorized to {what}: its certificate could not be "
                    f"verified ({self.trust.source}), so the credentials of {self.credentials.describe()} were not "
                    "sent, for whoever presents an unverified certificate could read them. Put the registry's CA "
                    f"where the daemon looks ({self.trust.certs_dir}/ca.crt), or allow it explicitly "
                    "(credentials_unverified)")
        return unauthorized_message(self.registry, what, self.credentials if self.transport.sends_credentials
                                    else None, challenge)

    @staticmethod
    def _valid_digest(value: str, url: str) -> str:
        try:
            return parse_digest(value)
        except DigestError as exc:
            raise RegistryError(f"{url} sent an unusable {DIGEST_HEADER} header: {exc}") from None
