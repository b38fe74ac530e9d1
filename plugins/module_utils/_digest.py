# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: content digests of manifests and blobs.

Registries address content by ``sha256:<64 lowercase hex>``. Every digest this collection reads
(from a user, a registry header, the daemon) passes through :func:`parse_digest`, so a digest that
would never compare equal (upper case, another algorithm, a truncated value) fails early and says why.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

ALGORITHM = "sha256"
PREFIX = ALGORITHM + ":"
_HEX_LENGTH = 64
_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_EXAMPLE = PREFIX + hashlib.sha256(b"").hexdigest()


class DigestError(ValueError):
    """A value that should be a digest is not one this collection accepts."""


class DigestMismatchError(Exception):
    """Two sources report different digests for what must be the same content."""


def parse_digest(value: str) -> str:
    """Return ``value`` when it is a ``sha256:`` digest, else raise :class:`DigestError` saying what is wrong."""
    if isinstance(value, str) and _SHA256_DIGEST.fullmatch(value):
        return value
    raise DigestError(f"{value!r} is not a valid digest: {_problem(value)}; a digest looks like {_EXAMPLE}")


def is_digest(value: str) -> bool:
    """Whether ``value`` is a ``sha256:`` digest (see :func:`parse_digest`)."""
    return isinstance(value, str) and _SHA256_DIGEST.fullmatch(value) is not None


def _problem(value) -> str:
    """Name the first thing that keeps ``value`` from being a digest, for the error message."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    algorithm, colon, encoded = value.partition(":")
    if not colon:
        return f"it lacks the '{PREFIX}' prefix"
    if algorithm != ALGORITHM:
        return f"only the {ALGORITHM} algorithm is supported, not {algorithm!r}"
    if encoded != encoded.lower():
        return "the hexadecimal part must be lower case"
    if len(encoded) != _HEX_LENGTH:
        return f"the hexadecimal part has {len(encoded)} characters instead of {_HEX_LENGTH}"
    return "the part after the prefix must be hexadecimal (0-9, a-f)"


def digest_of(data: bytes) -> str:
    """The digest of ``data`` exactly as given: a registry hashes the bytes it serves, not a re-encoding."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def agreed_digest(digests: Mapping[str, str]) -> str:
    """Return the one digest that every source reports.

    ``digests`` maps a description of each source to the digest it reported. Raise
    :class:`DigestMismatchError` naming the first source that disagrees with the first one,
    with both values, so the message alone says where to look.
    """
    if not digests:
        raise ValueError("agreed_digest() needs at least one digest")
    (first_source, first), *others = digests.items()
    for source, digest in others:
        if digest != first:
            raise DigestMismatchError(f"digest mismatch: {source} is {digest}, but {first_source} is {first}")
    return first
