# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the Docker SDK's import guard, its API client (closed after use),
the option that says where the daemon is, and what the daemon's ``docker info`` tells.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import traceback

try:
    from ansible.module_utils.basic import env_fallback, missing_required_lib
except ImportError:  # a job on the host that runs without Ansible (the scheduled garbage collection, _gc_job)
    env_fallback = missing_required_lib = None

try:
    import docker
    import docker.auth
    import docker.errors
    import docker.utils.config
except ImportError:
    docker = None
    DOCKER_IMPORT_ERROR = traceback.format_exc()
else:
    DOCKER_IMPORT_ERROR = None

try:
    import requests.exceptions as requests_exceptions
    import urllib3.exceptions as urllib3_exceptions
except ImportError:  # the Docker SDK needs requests: without it there is no client either
    requests_exceptions = urllib3_exceptions = None

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 60


class DaemonError(Exception):
    """The Docker daemon refused, failed or could not be reached; the message keeps the daemon's own words."""


def require_sdk(module) -> None:
    """Fail ``module`` the way Ansible modules do when the Docker SDK for Python is missing."""
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


def sdk_errors() -> tuple:
    """The exception types a call through the SDK raises: its own and its transport's.

    A stream (a push's or a pull's progress) is read from urllib3 directly: a daemon that stops in the middle of
    one (a restart) breaks it with urllib3's ProtocolError, which requests does not wrap there.
    """
    errors = (docker.errors.DockerException,) if docker else ()
    if requests_exceptions is not None:
        errors += (requests_exceptions.RequestException, urllib3_exceptions.HTTPError)
    return errors


@contextlib.contextmanager
def api_client(docker_host: str = DEFAULT_DOCKER_HOST, timeout: int = DEFAULT_TIMEOUT):
    """A low-level Docker SDK client for the daemon at ``docker_host``, API version negotiated, closed on exit."""
    if docker is None:
        raise DaemonError(f"asking the Docker daemon at {docker_host} needs the Docker SDK for Python (docker) on "
                          "this host: install python3-docker (the site playbook's preflight does)")
    try:
        client = docker.APIClient(base_url=docker_host, version="auto", timeout=timeout)
    except sdk_errors() as exc:
        raise DaemonError(f"the Docker daemon at {docker_host} does not answer: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


def insecure_registry(info: dict, registry: str, host: str) -> bool:
    """Whether a daemon whose ``docker info`` is ``info`` treats ``registry`` (host:port) as insecure.

    By name (``IndexConfigs``), or by an address of ``host`` (the registry's host, an IPv6 address without its
    brackets: ``_names.address_host``) in its insecure CIDRs, as the daemon decides.
    """
    config = info.get("RegistryConfig") or {}
    index = (config.get("IndexConfigs") or {}).get(registry)
    if index is not None:
        return not index.get("Secure", True)
    try:
        addresses = {ipaddress.ip_address(entry[4][0]) for entry in socket.getaddrinfo(host, None)}
    except (socket.gaierror, ValueError):
        return False
    networks = [ipaddress.ip_network(cidr) for cidr in config.get("InsecureRegistryCIDRs") or []]
    return any(address in network for address in addresses for network in networks
               if address.version == network.version)


def engine_version(info: dict) -> tuple[int, ...]:
    """The engine's release as numbers, ``(20, 10, 24)`` for ``20.10.24+dfsg1``; empty when unknown."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(info.get("ServerVersion") or ""))
    return tuple(int(part) for part in match.groups() if part is not None) if match else ()


def docker_argument_spec() -> dict:
    """The option that says where the daemon is; modules that ask it add it to their own."""
    return {"docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST, "fallback": (env_fallback, ["DOCKER_HOST"])}}
