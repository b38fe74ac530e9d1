# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what can go wrong with a registry, and its error bodies.

Every exception a registry exchange raises is a :class:`RegistryError`; the modules turn it into
``fail_json`` with its message, which names the registry, what was asked and what to do.
"""

from __future__ import annotations

import json
import os


class RegistryError(Exception):
    """The registry could not be asked, or its answer is not usable."""


class RegistryAuthError(RegistryError):
    """The registry answered 401, or credentials would go where they must not (plain HTTP, unverified TLS)."""


class ManifestUnknownError(RegistryError):
    """The registry has no manifest for the repository and tag (or digest) asked for."""


class RegistryConnectionError(RegistryError):
    """The registry could not be reached (refused, timed out, DNS), or the connection ended mid-answer."""


class RegistryTLSError(RegistryConnectionError):
    """The TLS handshake failed: most often the registry's certificate is not signed by a trusted CA."""


class CertificateVerifyError(RegistryTLSError):
    """The registry's certificate did not verify against the CAs trusted for it."""


class PlainHTTPError(RegistryConnectionError):
    """A TLS handshake was answered in plain HTTP: the port serves HTTP, not HTTPS."""

    def __init__(self, message: str, first_line: str) -> None:
        super().__init__(message)
        self.first_line = first_line


class ResponseTooLargeError(RegistryError):
    """The registry sent more than the collection reads for that kind of answer."""


class TrustConfigError(RegistryError):
    """The certs.d directory for a registry is unusable (the daemon rejects it the same way)."""


class ManifestFormatError(RegistryError):
    """A manifest is not what its media type says (missing fields, values of the wrong type)."""


class PlatformError(RegistryError):
    """O(platform) is malformed, or the image has nothing for that platform."""


class BlobMismatchError(RegistryError):
    """A blob the registry serves does not hash to its digest, or has another size."""


class BlobFetchError(RegistryError):
    """The registry did not serve a blob (an HTTP error status, a transfer cut short, a TLS failure)."""


def error_detail(body: bytes) -> str:
    """Distribution's JSON error body (``{"errors": [{"code", "message"}]}``) as ``: CODE message``, if any."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError, TypeError):
        return ""
    if not isinstance(errors, list):
        return ""
    details = "; ".join(_described(error) for error in errors if isinstance(error, dict))
    return f": {details[:500]}" if details else ""


def _described(error: dict) -> str:
    """``CODE message``, and the detail where it says something: a sentence, or the failed file operation of a
    storage driver (Go's PathError, ``{"Op", "Path", "Err": <errno>}``, perhaps wrapped), as Distribution sends them."""
    described = f"{error.get('code', '')} {error.get('message', '')}".strip()
    detail = error.get("detail")
    if isinstance(detail, dict):
        detail = _path_error(detail)
    return f"{described} ({detail})" if isinstance(detail, str) and detail.strip() else described


def _path_error(detail: dict, depth: int = 0) -> str | None:
    if isinstance(detail.get("Err"), int) and detail.get("Op") and detail.get("Path"):
        return f"{detail['Op']} {detail['Path']}: {os.strerror(detail['Err'])}"
    if depth < 3:
        for value in detail.values():
            if isinstance(value, dict):
                found = _path_error(value, depth + 1)
                if found:
                    return found
    return None


def reason(exc: BaseException) -> str:
    """The innermost cause of a chain of wrapped errors: ``certificate verify failed: …``, ``Connection refused``."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "verify_message", None):
            return f"certificate verify failed: {exc.verify_message}"
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.__cause__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
