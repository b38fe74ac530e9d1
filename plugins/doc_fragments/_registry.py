# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the options of the modules that speak to a registry."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ca_path:
    description:
      - A PEM file with the CA certificates to trust for the registry, in place of the system roots and the C(*.crt)
        files in C(/etc/docker/certs.d/<host:port>/).
      - The Docker daemon does not read it, so with it the module no longer answers for what the daemon trusts.
    type: path
  timeout:
    description:
      - Seconds to wait for each answer of the registry (and of the Docker daemon, where the module asks it).
      - A request as a whole gets a deadline too, so that a registry that answers slowly without end cannot hold the
        task; a blob's deadline grows with its size.
    type: int
    default: 60
  username:
    description:
      - Account to use with the registry. Not given, the module uses what C(docker login) stored for the registry's
        C(host:port) in the Docker client configuration of the user it runs as (C(~/.docker/config.json), or the
        credential helper it names), as the Docker CLI would; without one it asks anonymously.
      - Credentials go out as HTTP Basic auth over TLS whose certificate was verified, and to the registry itself
        only, never to a host it redirects to. A registry that does not speak TLS never gets them.
    type: str
  password:
    description:
      - Password of O(username). Required with it.
    type: str
requirements:
  - Python 3.11 or newer on the host.
"""

    DOCKER = r"""
options:
  docker_host:
    description:
      - The Docker daemon's API address, as C(DOCKER_HOST) takes it.
      - If not given, the value of the E(DOCKER_HOST) environment variable is used, and without it
        V(unix:///var/run/docker.sock).
    type: str
    default: unix:///var/run/docker.sock
requirements:
  - Docker SDK for Python (C(docker)) 5.0 or newer.
  - Docker API 1.25 or newer on the daemon.
"""
