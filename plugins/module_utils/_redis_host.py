# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: Redis for the blob descriptor cache of the registry replicas, the
registry_cache module's work.

Its ``redis.conf`` (TLS only, two ACL users: the registry's, limited to what CNCF Distribution 2.8.2 sends, and the
module's own), the module's client (mutual TLS with the host's certificate), the flush of the database, and one run
of the module: the configuration written, Redis kept running and awaited until both users' PING succeed.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import redis
except ImportError:  # the module reports it with missing_required_lib
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

from ansible_collections.dockyard.registry.plugins.module_utils._host import default_ipv4
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import ServiceHost
from ansible_collections.dockyard.registry.plugins.module_utils._tls_files import tls_digest, tls_paths
from ansible_collections.dockyard.registry.plugins.module_utils._users import user_exists

SERVICE = "dockyard-redis"
ADMIN_USER = "dockyard-admin"

# What CNCF Distribution 2.8.2 sends Redis (registry/handlers/app.go, registry/storage/cache/redis/redis.go): AUTH
# (always allowed) with the password alone, PING before it reuses a pooled connection, and the blob descriptor cache's
# commands on its two key families. SELECT only with a redis.db other than 0, which the collection never sets.
REGISTRY_COMMANDS = ("ping", "hget", "hmget", "hset", "hmset", "hsetnx", "hdel", "sadd", "sismember")
REGISTRY_KEYS = ("blobs::*", "repository::*")
# The module's own: its readiness check, and flush.
ADMIN_COMMANDS = ("ping", "dbsize", "flushdb")

PASSWORD = re.compile(r"[!-~]{16,}")
MAXMEMORY = re.compile(r"[0-9]+([kmg]b?)?", re.IGNORECASE)
PATH = re.compile(r"/[^\s\x00-\x1f\x7f]*")


def acl_user(name: str, password: str, keys: tuple[str, ...], commands: tuple[str, ...]) -> str:
    """A redis.conf ``user`` line: reset, then on, the password's SHA-256 only, keys, no channel, only ``commands``."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return " ".join(["user", name, "reset", "on", f"#{digest}", *(f"~{key}" for key in keys), "resetchannels",
                     "-@all", *(f"+{command}" for command in commands)])


def redis_conf(bind: str, port: int, password: str, admin_password: str, maxmemory: str, policy: str,
               data_dir: str, tls: dict, tls_state: str = "") -> bytes:
    """redis.conf: TLS only on ``bind``:``port`` with the host's certificate (``tls``: the paths of TLS_FILES), clients
    with a certificate of the CA only; ``tls_state`` (the digest of the certificate and the CA) is recorded so that a
    new one restarts Redis."""
    return "\n".join([
        "# Written by the dockyard.registry collection: the blob descriptor cache of the registry replicas.",
        f"bind {bind}",
        "# TLS only: no plain TCP port, and only clients with a certificate of the collection's CA.",
        "port 0",
        f"tls-port {int(port)}",
        f"tls-cert-file {tls['cert']}",
        f"tls-key-file {tls['key']}",
        f"tls-ca-cert-file {tls['ca']}",
        "tls-auth-clients yes",
        'tls-protocols "TLSv1.2 TLSv1.3"',
        f"# The certificate and the CA bundle Redis read at start: {tls_state or 'to be issued'}",
        "protected-mode yes",
        "# The registry (Distribution 2.8.2) authenticates with AUTH <password> alone, as the user default: default is",
        "# the registry's user, limited to its commands and keys. The collection's own user empties the cache.",
        acl_user("default", password, REGISTRY_KEYS, REGISTRY_COMMANDS),
        acl_user(ADMIN_USER, admin_password, (), ADMIN_COMMANDS),
        f"maxmemory {maxmemory}",
        f"maxmemory-policy {policy}",
        "# A cache: nothing is saved to disk, and a restart starts empty.",
        'save ""',
        "appendonly no",
        f"dir {data_dir}",
        "daemonize no",
        'logfile ""',
        "",
    ]).encode()


@contextlib.contextmanager
def connect(host: str, port: int, credentials: tuple[str, ...], tls: dict, timeout: float = 3):
    """A client that authenticates with ``credentials``: a password alone (the user default, as Distribution 2.8.2
    does), or a user and a password. It speaks TLS, presents the certificate of ``tls`` (the paths of TLS_FILES) and
    verifies Redis's, its name included (``host``), against the CA bundle there. Its connections are closed on
    leaving."""
    user, password = credentials if len(credentials) == 2 else (None, credentials[0])
    client = redis.Redis(host=host, port=port, username=user, password=password, socket_timeout=timeout,
                         socket_connect_timeout=timeout, ssl=True, ssl_certfile=tls["cert"], ssl_keyfile=tls["key"],
                         ssl_ca_certs=tls["ca"], ssl_cert_reqs="required", ssl_check_hostname=True)
    try:
        yield client
    finally:
        client.connection_pool.disconnect()


def input_problems(params: dict) -> list[str]:
    """Why values that reach redis.conf or Redis's command line cannot be written there; empty when they can."""
    problems = []
    for option in ("password", "admin_password"):
        if params[option] is not None and not PASSWORD.fullmatch(params[option]):
            problems.append(f"{option} must be at least 16 printable ASCII characters without white space")
    if not MAXMEMORY.fullmatch(params["maxmemory"]):
        problems.append(f"maxmemory must be a size in Redis's syntax such as 256mb; got {params['maxmemory']!r}")
    for option in ("binary", "config_dir", "data_dir", "log", "tls_dir"):
        if not PATH.fullmatch(params[option]):
            problems.append(f"{option} must be an absolute path without white space or control characters; got "
                            f"{params[option]!r}")
    return problems


def flush(module, host: str, port: int, credentials: tuple[str, ...], tls: dict) -> int:
    """FLUSHDB where the database holds keys (not in check mode); how many it held."""
    try:
        with connect(host, port, credentials, tls) as client:
            keys = client.dbsize()
            if keys and not module.check_mode:
                client.flushdb()
    except redis.RedisError as exc:
        # A refused password is an AuthenticationError, a ConnectionError, from redis 4.4 on.
        unreachable = isinstance(exc, redis.ConnectionError) and not isinstance(exc, redis.AuthenticationError)
        module.fail_json(msg=f"Redis at {host}:{port} " + ("cannot be reached to flush its database" if unreachable
                                                           else "refused to count or flush its keys") + f": {exc}")
    return keys


class RedisHost(ServiceHost):
    """One run of the registry_cache module."""

    def run(self) -> dict:
        module, params, files = self.module, self.params, self.files
        if REDIS_IMPORT_ERROR:
            module.fail_json(msg=missing_required_lib("redis (python3-redis)"), exception=REDIS_IMPORT_ERROR)
        admin = (ADMIN_USER, params["admin_password"])
        problems = input_problems(params)
        if problems:
            module.fail_json(msg="; ".join(problems))
        tls = tls_paths(params["tls_dir"])
        if params["state"] == "flushed":
            if not params["bind_address"]:
                module.fail_json(msg="bind_address must name the address Redis listens on to flush its database")
            keys = flush(module, params["bind_address"], params["port"], admin, tls)
            return {"changed": keys > 0, "flushed": keys, "address": f"{params['bind_address']}:{params['port']}"}
        missing = self.missing_program()
        if missing:
            return missing
        bind = params["bind_address"] or default_ipv4()
        if not bind:
            module.fail_json(msg="registry_cache_bind_address is empty and the host has no default IPv4 address: set "
                                 "it to the private address the registry replicas reach Redis at")
        try:
            address = ipaddress.ip_address(bind)
        except ValueError:
            module.fail_json(msg=f"registry_cache_bind_address must be an IP address of the host; got {bind!r}")
        if address.is_unspecified or address.is_global:
            module.fail_json(msg=f"registry_cache_bind_address {bind} is a public or wildcard address: Redis must "
                                 "listen on a private address only")
        try:
            tls_state = tls_digest(tls, module.check_mode, "the registry_cache role", "Redis")
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        owner = params["user"] if user_exists(params["user"]) else "root"
        files.directory(params["config_dir"], 0o755)
        files.directory(params["data_dir"], 0o750, owner=owner, group=owner)
        conf_path = os.path.join(params["config_dir"], "redis.conf")
        changed = files.file(conf_path, redis_conf(bind, params["port"], params["password"], params["admin_password"],
                                                   params["maxmemory"], params["maxmemory_policy"], params["data_dir"],
                                                   tls, tls_state),
                             0o640, group=owner, secret=True)

        def ready():
            # Both users: the module's, and the registry's (AUTH <password>, as Distribution sends it).
            for who, credentials in ((ADMIN_USER, admin), ("default", (params["password"],))):
                try:
                    with connect(bind, params["port"], credentials, tls) as client:
                        client.ping()
                except redis.RedisError as exc:
                    return f"{bind}:{params['port']} refused PING for the user {who}: {exc}"
            return None

        action = self.keep_running(SERVICE, [params["binary"], conf_path],
                                   description="Redis (dockyard.registry cache)", files_changed=changed, ready=ready,
                                   user=owner)
        values = {"address": f"{bind}:{params['port']}"}
        if params["flush"]:
            # A Redis (re)started here saved nothing: it starts empty.
            values["flushed"] = 0 if action else flush(module, bind, params["port"], admin, tls)
        return self.result(action, also_changed=values.get("flushed", 0) > 0, **values)
