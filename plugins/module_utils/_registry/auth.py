# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the account a module uses with a registry.

As given to the module, else what ``docker login`` stored for the registry in the Docker client configuration
(``~/.docker/config.json``, or the credential helper it names), read with the Docker SDK as the Docker CLI
would. Credentials go out as HTTP Basic auth over verified TLS only (see ``transport``).
"""

from __future__ import annotations

import base64
import dataclasses

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import docker


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A registry account, and where it came from (for messages: never the password)."""

    username: str
    password: str = dataclasses.field(repr=False)
    source: str

    @property
    def basic(self) -> str:
        """The ``Authorization`` header value of HTTP Basic auth."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def describe(self) -> str:
        return f"user {self.username} from {self.source}"


def registry_credentials(registry: str, username: str | None = None, password: str | None = None,
                         config_path: str | None = None) -> Credentials | None:
    """The account to use for ``registry`` (host:port): as given, else what ``docker login`` stored for it.

    Without the Docker SDK only given credentials count.
    """
    if username is not None and password is not None:
        return Credentials(username, password, "the username and password options")
    if docker is None:
        return None
    try:
        config = docker.auth.load_config(config_path=config_path)
        entry = config.resolve_authconfig(registry)
    except (docker.errors.DockerException, OSError, ValueError):
        return None
    if not entry or not entry.get("username") or entry.get("password") is None:
        return None
    where = config_path or docker.utils.config.find_config_file() or "the Docker client configuration"
    return Credentials(entry["username"], entry["password"], f"the Docker login stored in {where}")


def unauthorized_message(registry: str, what: str, credentials: Credentials | None, challenge: str = "") -> str:
    """Why a 401 came, and what to do: log in, or use other credentials."""
    if credentials is None:
        return (f"registry {registry} answered 401 Unauthorized to {what}: it needs credentials and none are known "
                f"for {registry}. Log this host in (`docker login {registry}`, or the registry_trust role with "
                "registry_users), or give username and password")
    if challenge and not challenge.lower().startswith("basic"):
        return (f"registry {registry} answered 401 Unauthorized to {what}: it asks for {challenge.split(' ', 1)[0]} "
                "authentication, and this module speaks HTTP Basic only")
    return (f"registry {registry} refused the credentials of user {credentials.username} ({credentials.source}) "
            f"with 401 Unauthorized to {what}: the password is wrong or the account does not exist; log in again")
