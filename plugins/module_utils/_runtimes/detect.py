# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: which container runtimes a host has, decided from facts.

:func:`gather` looks at the host (programs on ``PATH``, sockets and files); everything else is pure. The rules:

* ``docker``: ``dockerd`` is installed, or a Docker socket exists (``/var/run/docker.sock``, ``/run/docker.sock``).
* ``containerd``: a containerd of its own serves clients other than Docker, which is what kubelet, ``ctr`` and
  ``nerdctl`` talk to: its socket ``/run/containerd/containerd.sock`` exists (systemd's containerd, or one started
  by hand), or ``containerd`` is installed with ``/etc/containerd/config.toml`` on a host without ``dockerd`` (a
  node whose containerd is stopped right now). The containerd that ``dockerd`` starts for itself when no system
  containerd runs listens at ``/var/run/docker/containerd/containerd.sock``, reads no ``config.toml`` of
  ``/etc/containerd`` and pulls nothing itself: it is Docker's, and does not count. A Docker host whose packages
  run containerd as a service of its own (Debian's docker.io, Docker's containerd.io) counts as a containerd
  host as well: anything may pull through that containerd.
* ``podman``: the containers/image family, which reads ``/etc/containers``: ``podman``, ``buildah``, ``skopeo``
  or ``crio`` is installed.

Docker reads containerd's ``hosts.toml`` in its certs.d directory when it uses the containerd image store:
``docker info`` then reports the driver status ``driver-type: io.containerd.snapshotter.v1`` (moby's
``daemon/containerd`` image service). Engine 29 uses that store by default on new installs; an engine upgraded
from an older one keeps its graph driver until told otherwise. :func:`docker_reads_hosts_toml` says yes to
either, so that a host moved to the containerd store later is ready for it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil

DOCKER = "docker"
CONTAINERD = "containerd"
PODMAN = "podman"
RUNTIMES = (DOCKER, CONTAINERD, PODMAN)

PROGRAMS = ("dockerd", "containerd", "ctr", "podman", "buildah", "skopeo", "crio")
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
PATHS = (*DOCKER_SOCKETS, CONTAINERD_SOCKET, CONTAINERD_CONFIG)

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"
DOCKER_CONTAINERD_STORE_DEFAULT = (29,)

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a host has: the programs of :data:`PROGRAMS` on its ``PATH`` and the paths of :data:`PATHS` that exist."""

    programs: frozenset = frozenset()
    paths: frozenset = frozenset()


def gather(fs, which=shutil.which) -> Facts:
    """The host's :class:`Facts`: ``which(program)`` for each program, ``fs.exists(path)`` for each path."""
    return Facts(frozenset(program for program in PROGRAMS if which(program)),
                 frozenset(path for path in PATHS if fs.exists(path)))


def detect(facts: Facts) -> dict:
    """The runtimes present, each with the reason it counts, in :data:`RUNTIMES` order."""
    found = {}
    docker_sockets = [path for path in DOCKER_SOCKETS if path in facts.paths]
    if "dockerd" in facts.programs:
        found[DOCKER] = "dockerd is installed"
    elif docker_sockets:
        found[DOCKER] = f"the Docker socket {docker_sockets[0]} exists"
    if CONTAINERD_SOCKET in facts.paths:
        found[CONTAINERD] = f"a containerd of its own listens at {CONTAINERD_SOCKET}"
    elif {"containerd"} <= facts.programs and CONTAINERD_CONFIG in facts.paths and DOCKER not in found:
        found[CONTAINERD] = f"containerd is installed with {CONTAINERD_CONFIG} (not running now)"
    family = [program for program in ("podman", "buildah", "skopeo", "crio") if program in facts.programs]
    if family:
        found[PODMAN] = f"{', '.join(family)} {'is' if len(family) == 1 else 'are'} installed"
    return found


def check_runtimes(requested) -> list:
    """``auto`` or a list of runtime names, checked (for a preflight): unknown names are refused."""
    if requested == "auto" or requested == ["auto"]:
        return ["auto"]
    if isinstance(requested, str):
        requested = [requested]
    unknown = [name for name in requested if name not in RUNTIMES]
    if unknown:
        raise ValueError(f"unknown runtime{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
                         f"registry_trust_runtimes: use auto, or a list of {', '.join(RUNTIMES)}")
    return [name for name in RUNTIMES if name in requested]


def select(requested, facts: Facts) -> dict:
    """The runtimes to trust the registry in, each with why: those found (``auto``) or those named."""
    names = check_runtimes(requested)
    found = detect(facts)
    if names == ["auto"]:
        return found
    return {name: found.get(name, "named in registry_trust_runtimes") for name in names}


def version_tuple(text) -> tuple:
    """The release of a version string: ``29.0.1`` -> (29, 0, 1), ``v2.0.0`` -> (2, 0, 0),
    ``20.10.24+dfsg1`` -> (20, 10, 24), ``1.6.20~ds1`` -> (1, 6, 20); () for anything else."""
    match = _VERSION.match(str(text or "").strip())
    if not match:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)


def containerd_version(output: str) -> tuple:
    """containerd's release from ``containerd --version``, whatever packaged it, () when there is none:
    ``containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3`` (Debian),
    ``containerd containerd.io 1.7.27 05044ec…`` (Docker's), ``containerd github.com/containerd/containerd/v2 v2.1.4 …``.
    """
    for token in str(output or "").split()[1:]:
        found = version_tuple(token)
        if found:
            return found
    return ()


def docker_reads_hosts_toml(info: dict) -> tuple:
    """Whether a Docker engine needs hosts.toml beside ca.crt, and why, from ``docker info`` (the SDK's ``info()``).

    Yes when the engine uses the containerd image store (``DriverStatus`` holds ``driver-type`` =
    ``io.containerd.snapshotter.v1``), and when it is 29 or later, whose new installs use that store.
    """
    for pair in info.get("DriverStatus") or []:
        if len(pair) == 2 and pair[0] == "driver-type" and pair[1] == CONTAINERD_SNAPSHOTTER:
            return True, "the engine uses the containerd image store"
    version = version_tuple(info.get("ServerVersion"))
    if version and version >= DOCKER_CONTAINERD_STORE_DEFAULT:
        return True, f"engine {info.get('ServerVersion')} (29 or later)"
    engine = info.get("ServerVersion") or "of unknown version"
    return False, f"engine {engine} with the {info.get('Driver') or 'graph'} driver reads only the *.crt files of certs.d"
