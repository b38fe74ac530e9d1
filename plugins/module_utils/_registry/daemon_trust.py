# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what the Docker daemon on this host trusts for a registry.

The system roots, found where Go's ``crypto/x509`` (and so ``dockerd``) finds them, plus every ``*.crt`` in
``/etc/docker/certs.d/<host:port>/``, and the ``*.cert``/``*.key`` pair there as client certificate. A module
built on this never reports "fine" for a registry the daemon would refuse, or the reverse. The environment
(``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, proxies) plays no part: the daemon does not read it either.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path

from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import TrustConfigError

CERTS_D = Path("/etc/docker/certs.d")

# Where Go looks for the system roots on Linux, in its order.
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


@dataclasses.dataclass(frozen=True)
class CertsDir:
    """What a Docker daemon reads from ``/etc/docker/certs.d/<host:port>/``."""

    path: Path
    ca_files: tuple[Path, ...]
    client_certs: tuple[tuple[Path, Path], ...]

    @classmethod
    def read(cls, path: Path) -> CertsDir:
        """List the directory like dockerd's ``ReadCertsDirectory``: ``*.crt`` are CAs, ``*.cert``+``*.key`` pairs."""
        files = sorted(entry for entry in path.iterdir() if entry.is_file()) if path.is_dir() else []
        names = {entry.name for entry in files}
        for entry in files:
            if entry.suffix == ".cert" and entry.with_suffix(".key").name not in names:
                raise TrustConfigError(f"missing key {entry.with_suffix('.key')} for client certificate {entry}; "
                                       "CA certificates must use the extension .crt")
            if entry.suffix == ".key" and entry.with_suffix(".cert").name not in names:
                raise TrustConfigError(f"missing client certificate {entry.with_suffix('.cert')} for key {entry}")
        ca_files = tuple(entry for entry in files if entry.suffix == ".crt")
        pairs = tuple((entry, entry.with_suffix(".key")) for entry in files if entry.suffix == ".cert")
        return cls(path, ca_files, pairs)


def system_ca_bundle(candidates=SYSTEM_CA_BUNDLES) -> Path | None:
    """The system roots file, found where Go's crypto/x509 finds it."""
    return next((Path(candidate) for candidate in candidates if os.path.isfile(candidate)), None)


class Trust:
    """The CAs and the client certificate to use for one registry, and where they came from (for messages).

    ``ca_files`` lists the PEM files trusted (the system roots first), for the TLS context and for code that
    checks a chain itself; ``cert`` is the client certificate and key pair, or None.
    """

    def __init__(self, registry: str, ca_path: str | None = None, certs_d: Path = CERTS_D,
                 system_roots: Path | None = None) -> None:
        certs = CertsDir.read(Path(certs_d) / registry)
        self.certs_dir = certs.path
        self.cert = tuple(str(part) for part in certs.client_certs[0]) if certs.client_certs else None
        if ca_path:
            self.ca_files = (Path(ca_path),)
            self.source = f"ca_path {ca_path}"
            self.fix = "ca_path must name the CA that signed the registry's certificate"
            return
        self.fix = (f"put the CA that signed the registry's certificate in {certs.path}/ca.crt, where the Docker "
                    "daemon looks, or name it with ca_path")
        self.ca_files = ((Path(system_roots),) if system_roots else ()) + certs.ca_files
        if not certs.ca_files:
            self.source = f"the system roots only (no *.crt in {certs.path})"
        else:
            self.source = ("the system roots and " if system_roots else "") + ", ".join(map(str, certs.ca_files))

    @classmethod
    def for_registry(cls, registry: str, ca_path: str | None = None, certs_d: Path = CERTS_D) -> Trust:
        """What the daemon on this host trusts for ``registry``, the system roots included."""
        return cls(registry, ca_path, certs_d, system_roots=system_ca_bundle())

    def context(self, verify: bool = True) -> ssl.SSLContext:
        """A TLS 1.2+ client context that verifies as the daemon does, or (``verify=False``) that verifies nothing.

        Without any CA file, OpenSSL's own default roots stand in for the system roots.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if verify:
            for ca_file in self.ca_files:
                try:
                    context.load_verify_locations(cafile=str(ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise TrustConfigError(f"cannot use CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}"
                                           ) from None
            if not self.ca_files:
                context.load_default_certs()
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert:
            try:
                context.load_cert_chain(*self.cert)
            except (OSError, ssl.SSLError) as exc:
                raise TrustConfigError(f"cannot use the client certificate {self.cert[0]} with its key "
                                       f"{self.cert[1]}: {getattr(exc, 'strerror', None) or exc}") from None
        return context
