# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: Docker image references, parsed as Docker parses them.

The grammar is CNCF Distribution's (``distribution/reference``)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]           host := domain-name | "[" IPv6 address "]"
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

and Docker's normalisation on top: the first component is a registry only when it contains ``.`` or
``:``, is ``localhost``, or has upper case letters; otherwise the registry is Docker Hub (``docker.io``,
with ``library/`` for single-component names). A reference without tag and digest means ``:latest``.
Digests are limited to ``sha256:`` (see ``_digest``), the only algorithm registries use.
"""

from __future__ import annotations

import dataclasses
import re

from ansible_collections.dockyard.registry.plugins.module_utils._digest import DigestError, parse_digest
from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    bracketed_ipv6,
    port_problem,
    split_host_port,
)

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
NAME_MAX_LENGTH = 255
TAG_MAX_LENGTH = 128
SHAPE = "[registry[:port]/]path[:tag][@sha256:<64 hex>], for example registry.example.com:5000/team/app:1.0"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]*", re.ASCII)
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")


class ReferenceFormatError(ValueError):
    """A string is not an image reference; the message says what is wrong and what one looks like."""

    def __init__(self, reference: str, problem: str) -> None:
        super().__init__(f"{reference!r} is not a valid image reference: {problem}. A reference looks like {SHAPE}")
        self.reference = reference
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class ImageReference:
    """One parsed reference. ``tag`` and ``digest`` may both be set (``app:1.0@sha256:…``)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository as the daemon writes it in RepoTags and RepoDigests (Docker Hub's short form)."""
        if self.registry != DEFAULT_REGISTRY:
            return f"{self.registry}/{self.repository}"
        official = self.repository.removeprefix("library/")
        return official if "/" not in official else self.repository

    @property
    def tagged(self) -> str | None:
        """``name:tag``, or None when the reference names a digest only."""
        return f"{self.name}:{self.tag}" if self.tag else None

    @property
    def manifest_reference(self) -> str:
        """What goes after ``/manifests/`` in the registry API: the digest when there is one, else the tag."""
        return self.digest or self.tag

    def by_digest(self, digest: str) -> ImageReference:
        """The same repository, addressed by ``digest`` alone (how a verified pull names an image)."""
        return dataclasses.replace(self, tag=None, digest=parse_digest(digest))

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(reference: str) -> ImageReference:
    """Parse ``reference`` the way ``docker push``/``docker pull`` would, or raise :class:`ReferenceFormatError`."""
    if not isinstance(reference, str):
        raise ReferenceFormatError(str(reference), f"expected a string, got {type(reference).__name__}")
    if not reference:
        raise ReferenceFormatError(reference, "it is empty")
    if _IMAGE_ID.fullmatch(reference):
        raise ReferenceFormatError(reference, "a 64-character hexadecimal string is an image ID, not a reference")
    remainder, digest = _split_digest(reference)
    name, tag = _split_tag(remainder, reference)
    if len(name) > NAME_MAX_LENGTH:
        raise ReferenceFormatError(reference, f"the name is {len(name)} characters long, the limit is {NAME_MAX_LENGTH}")
    registry, repository = _split_registry(name, reference)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(registry, repository, tag, digest)


def is_reference(reference: str) -> bool:
    """Whether ``reference`` parses (see :func:`parse_reference`)."""
    try:
        parse_reference(reference)
    except ReferenceFormatError:
        return False
    return True


def _split_digest(reference: str) -> tuple[str, str | None]:
    remainder, at, digest = reference.partition("@")
    if not at:
        return reference, None
    try:
        return remainder, parse_digest(digest)
    except DigestError as exc:
        raise ReferenceFormatError(reference, f"the part after '@' is not a digest ({exc})") from None


def _split_tag(remainder: str, reference: str) -> tuple[str, str | None]:
    """Split ``name[:tag]``; a ``:`` before the last ``/`` belongs to the registry's port, not a tag."""
    colon = remainder.rfind(":")
    if colon == -1 or "/" in remainder[colon:]:
        return remainder, None
    name, tag = remainder[:colon], remainder[colon + 1:]
    if not tag:
        raise ReferenceFormatError(reference, "the tag after ':' is empty")
    if not _TAG.fullmatch(tag):
        raise ReferenceFormatError(
            reference, f"tag {tag!r} may hold only letters, digits, '_', '.' and '-', and must not start with '.' or '-'")
    if len(tag) > TAG_MAX_LENGTH:
        raise ReferenceFormatError(reference, f"the tag is {len(tag)} characters long, the limit is {TAG_MAX_LENGTH}")
    return name, tag


def _split_registry(name: str, reference: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and _names_a_registry(first):
        _check_domain(first, reference)
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, name
    _check_path(path, reference)
    if registry in (DEFAULT_REGISTRY, "index.docker.io"):
        registry = DEFAULT_REGISTRY
        if "/" not in path:
            path = f"library/{path}"
    return registry, path


def _names_a_registry(component: str) -> bool:
    """Docker's rule for telling ``registry.example.com/app`` from ``team/app``."""
    return "." in component or ":" in component or component == "localhost" or component != component.lower()


def _check_domain(domain: str, reference: str) -> None:
    """The registry part, ``host[:port]`` (``_names``), with Docker's grammar for a host name: it admits more than
    a certificate's name does (a label of digits alone, a label of any length), and so this parser does too."""
    host, port = split_host_port(domain)
    if port is not None and port_problem(port):
        raise ReferenceFormatError(reference, f"the registry port {port!r} is not a number from 1 to 65535")
    if host.startswith("["):
        if bracketed_ipv6(host) is None:
            raise ReferenceFormatError(reference, f"registry host {host!r}: {host} is not an IPv6 address")
    elif not _DOMAIN_NAME.fullmatch(host):
        raise ReferenceFormatError(
            reference, f"registry host {host!r} is not a host name, an IPv4 address or a bracketed IPv6 address")


def _check_path(path: str, reference: str) -> None:
    if path != path.lower():
        raise ReferenceFormatError(reference, f"repository name {path!r} must be lower case")
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise ReferenceFormatError(reference, _path_problem(component))


def _path_problem(component: str) -> str:
    if not component:
        return "the repository path has an empty component (a leading, trailing or doubled '/')"
    return (f"repository path component {component!r} may hold only a-z, 0-9 and the separators '.', '_', '__' "
            "or dashes, and must start and end with a letter or digit")
