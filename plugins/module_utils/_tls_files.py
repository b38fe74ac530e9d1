# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a host's TLS identity from the collection's CA, as the services that
present it read it (the registry_certificate module writes the files).

Pure but for reading the files: their paths in a TLS directory, and one digest over the certificate and the CA bundle
that a service's configuration records, so that a renewed certificate or a CA rollover restarts the service that
read them at start.
"""

from __future__ import annotations

import hashlib
import os

# The key, the certificate the collection's CA issued for the host (serverAuth and clientAuth where it was asked
# for), and the CA bundle: the registry_certificate module's names.
TLS_FILES = {"key": "server.key", "cert": "server.crt", "ca": "ca.crt"}


def tls_paths(tls_dir: str) -> dict:
    """The paths of :data:`TLS_FILES` in ``tls_dir``."""
    return {name: f"{tls_dir.rstrip('/')}/{file}" for name, file in TLS_FILES.items()}


def tls_digest(tls: dict, check_mode: bool, issuer: str, service: str) -> str:
    """The SHA-256 over the host's certificate and the CA bundle (``tls``: the paths of :data:`TLS_FILES`).

    Empty in check mode where they are still to be issued. Outside check mode every file must be there, before
    anything changes: a ValueError names the missing ones, ``issuer`` (the role that issues them) and ``service``."""
    missing = [path for path in tls.values() if not os.path.isfile(path)]
    if missing:
        if check_mode:
            return ""
        raise ValueError(f"tls_dir lacks {', '.join(missing)}: the host's key, certificate and CA bundle, which "
                         f"{issuer} issues from the collection's CA (registry_certificate) before it runs {service}")
    digest = hashlib.sha256()
    for name in ("cert", "ca"):
        with open(tls[name], "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()
