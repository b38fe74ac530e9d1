# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the Python libraries its modules import on a host.

Pure: which libraries there are, the oldest version each module accepts, and the OS package that carries
each on the package managers the collection knows. What is installed is read from the libraries' metadata
(``importlib.metadata``), without importing them: a host that lacks one must be told so before anything runs.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class Library:
    """A library the collection's modules import on a host."""

    name: str  # as the modules import it
    distribution: str  # as its metadata names it
    minimum: str
    used_for: str
    packages: dict  # package manager -> OS package


def os_packages(name: str, apk: str = "") -> dict:
    """The OS packages of the Python library ``name``: ``python3-<name>`` everywhere but on Alpine, whose APK is
    ``apk`` (``py3-<name>`` where not given)."""
    packages = {manager: f"python3-{name}" for manager in ("apt", "dnf", "yum", "zypper")}
    packages["apk"] = apk or f"py3-{name}"
    return packages


LIBRARIES = {
    library.name: library
    for library in (
        Library("cryptography", "cryptography", "3.1",
                "the registry host's key and certificate request, and the probe's certificate checks",
                os_packages("cryptography")),
        Library("requests", "requests", "2.20.0",
                "the registry API requests of registry_image, and community.docker's modules",
                os_packages("requests")),
        Library("docker", "docker", "5.0.0",
                "the Docker daemon API of registry_image, registry_trust and docker_daemon_config",
                os_packages("docker", apk="py3-docker-py")),
        # 0.11.7 is Debian 12's (tested there, and Debian 13's 0.13.2).
        Library("tomlkit", "tomlkit", "0.11.7",
                "registry_trust's edit of containerd's config.toml, which keeps every other byte of the file",
                os_packages("tomlkit")),
        # 3.5.3 is the oldest with Redis ACL user names (username=); Debian 12 has 4.3.4.
        Library("redis", "redis", "3.5.3",
                "the registry_cache module's readiness check and flush of the Redis of the replicas' cache",
                os_packages("redis")),
    )
}
# The oldest Python the modules run with on a host (Debian 12's; tested there and on Debian 13's 3.13): its standard
# library reads TOML (tomllib; tomlkit edits it) and hands out the certificates a server sent.
OLDEST_PYTHON = (3, 11)
# In the order a host is asked which one it has.
PACKAGE_MANAGERS = ("apt", "dnf", "yum", "zypper", "apk")
PACKAGE_MANAGER_COMMANDS = {"apt": "apt-get", "dnf": "dnf", "yum": "yum", "zypper": "zypper", "apk": "apk"}


@dataclasses.dataclass(frozen=True)
class Finding:
    """What a host has of one library: its version, or why it cannot be used."""

    library: Library
    version: str | None  # None: not installed

    @property
    def usable(self) -> bool:
        return self.version is not None and version_tuple(self.version) >= version_tuple(self.library.minimum)

    @property
    def problem(self) -> str | None:
        if self.version is None:
            return f"{self.library.name} is missing (needed for {self.library.used_for})"
        if not self.usable:
            return (f"{self.library.name} {self.version} is older than {self.library.minimum} "
                    f"(needed for {self.library.used_for})")
        return None


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: ``38.0.4`` -> (38, 0, 4), ``2.28.1+dfsg`` -> (2, 28, 1)."""
    match = re.match(r"\d+(?:\.\d+)*", version or "")
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def findings(names, installed_version) -> list[Finding]:
    """One :class:`Finding` per library name; ``installed_version(distribution)`` returns a version or None."""
    return [Finding(LIBRARIES[name], installed_version(LIBRARIES[name].distribution)) for name in names]


def python_problem(python) -> str | None:
    """Why the interpreter, of version ``python`` (major, minor), cannot run the modules; None where it can."""
    if tuple(python) >= OLDEST_PYTHON:
        return None
    return (f"is Python {'.'.join(map(str, python))}, and the collection's modules need Python "
            f"{'.'.join(map(str, OLDEST_PYTHON))} or newer")


def packages_for(found: list[Finding], manager: str | None) -> list[str]:
    """The OS packages that bring the libraries that are missing or too old, with ``manager``."""
    return [finding.library.packages[manager] for finding in found if not finding.usable
            and manager in finding.library.packages]
