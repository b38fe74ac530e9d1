# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what a host as it comes has for the collection's modules.

The host_requirements action sends this file's source to the host's Python interpreter (``python3 -c <source>
<arguments>``), before any module of the collection runs there: it needs the standard library only, not Ansible's
module wrapper, and reads the libraries' metadata without importing them. Its one argument is a JSON object:
``distributions`` (the distributions whose versions to read), ``docker_distributions`` (read as well where the host
has Docker), ``docker_socket`` (a Unix socket to ask for ``/_ping``, or null), ``docker_sockets`` (where Docker's
socket may be) and ``package_managers`` (``[name, command]`` pairs, in the order to look for them): the controller
sends what ``_runtimes.detect`` and ``_requirements`` say, so that they are said once. It prints one JSON object: the
interpreter, its version, the versions found (null for a missing one), whether the host has Docker and whether its
daemon answered, the package manager, and whether the interpreter sees the OS packages' libraries. What is missing
and which packages bring it is worked out on the controller (``_requirements``).
"""

import json
import os
import shutil
import socket
import sys

try:
    from importlib import metadata
except ImportError:  # Python < 3.8
    metadata = None


def installed_version(distribution):
    """The version the interpreter's metadata records for ``distribution``, or None where it has none."""
    if metadata is None:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_manager(managers):
    """The first of the ``[name, command]`` pairs whose command is on the path, by name; None where none is."""
    return next((name for name, command in managers if shutil.which(command)), None)


def os_packages_visible():
    """False for a virtualenv that keeps the system's site-packages out (the default of ``python -m venv``)."""
    if sys.prefix == getattr(sys, "base_prefix", sys.prefix):
        return True
    try:
        with open(os.path.join(sys.prefix, "pyvenv.cfg"), encoding="utf-8") as config:
            for line in config:
                key, _equals, value = line.partition("=")
                if key.strip() == "include-system-site-packages":
                    return value.strip().lower() == "true"
    except OSError:
        pass
    return False


def has_docker(sockets):
    """Docker is installed (``dockerd`` on the path) or one of its ``sockets`` is there."""
    return shutil.which("dockerd") is not None or any(os.path.exists(path) for path in sockets)


def docker_answers(path, timeout=5.0):
    """Whether a daemon answers ``GET /_ping`` with 200 on the Unix socket ``path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as daemon:
            daemon.settimeout(timeout)
            daemon.connect(path)
            daemon.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return daemon.recv(64).split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"]
    except OSError:
        return False


def survey(arguments):
    docker = has_docker(([arguments["docker_socket"]] if arguments.get("docker_socket") else [])
                        + list(arguments.get("docker_sockets") or []))
    distributions = list(arguments.get("distributions") or [])
    if docker:
        distributions += [name for name in arguments.get("docker_distributions") or [] if name not in distributions]
    found = {
        "interpreter": sys.executable,
        "python": list(sys.version_info[:2]),
        "versions": {name: installed_version(name) for name in distributions},
        "has_docker": docker,
        "package_manager": package_manager(arguments.get("package_managers") or []),
        "os_packages_visible": os_packages_visible(),
    }
    if arguments.get("docker_socket"):
        found["docker_answers"] = docker_answers(arguments["docker_socket"])
    return found


if __name__ == "__main__":
    sys.stdout.write(json.dumps(survey(json.loads(sys.argv[1]))) + "\n")
