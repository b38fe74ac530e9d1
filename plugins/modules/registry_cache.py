# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_cache
short_description: Redis for the blob descriptor cache of registry replicas, with a user of their own, on a private address
version_added: 0.3.0
description:
  - Runs the OS's C(redis-server) with a configuration of its own (C(redis.conf) in O(config_dir), root:redis,
    0640), bound to O(bind_address) only, which must not be a public or wildcard address, O(maxmemory) with the
    eviction policy O(maxmemory_policy) (a cache, so nothing is saved to disk).
  - Two Redis users (ACL), each password kept in C(redis.conf) as its SHA-256 hash only. The registry's is the user
    C(default), with O(password), because the registry (CNCF Distribution 2.8.2) authenticates with
    C(AUTH <password>) alone, which Redis takes for the user C(default); so C(default) cannot be disabled and is the registry's restricted
    user instead. It may run only the commands Distribution's blob descriptor cache sends (C(PING), C(HGET),
    C(HMGET), C(HSET), C(HMSET), C(HSETNX), C(HDEL), C(SADD), C(SISMEMBER)), on the keys C(blobs::*) and
    C(repository::*) only, and no Pub/Sub channel. A client without a password can run nothing.
  - The module's own user C(dockyard-admin), with O(admin_password), may run only C(PING), C(DBSIZE) and
    C(FLUSHDB), which the module's readiness check and O(flush) need. No user may run C(CONFIG), C(KEYS),
    C(FLUSHALL), C(MODULE), C(DEBUG) or any other command.
  - Kept running by systemd where it is the service manager and by a small supervisor started detached elsewhere
    (pid files in C(/run/dockyard), output appended to O(log)), as the user C(redis) where it exists. Restarted
    only when its configuration changed, then waited for until both users' C(AUTH) and C(PING) succeed.
  - Where C(redis-server) is missing, changes nothing and says so in RV(missing_program), so that the role installs
    the package first.
  - A run that changes nothing is one call of this module on the host; it checks that Redis answers.
  - With O(flush), also empties Redis's database (C(FLUSHDB)) where it holds keys, once Redis answers. Garbage
    collection with replicas does so, so that no replica finds a blob it deleted in the shared cache.
  - With O(state=flushed), only empties the database of the Redis that answers at O(bind_address) and O(port),
    as the user C(dockyard-admin) over TLS with the host's certificate (O(tls_dir)), and installs, writes or starts
    nothing. Garbage collection with replicas runs it on the Redis host (delegated), so that O(admin_password) never
    crosses the network, before any replica takes pushes again.
  - Speaks TLS only (C(port 0), C(tls-port)), with the host's certificate from the collection's CA in O(tls_dir), and
    it takes only clients that present a certificate of that CA (C(tls-auth-clients yes)). A plain TCP client, or a
    TLS client without such a certificate, is refused before any command. The module's own connections present the
    host's certificate and verify Redis's against the CA bundle. Distribution 2.8.2 dials Redis over plain TCP and
    has no TLS setting, so the registry_server role runs on each replica host a local endpoint that forwards the
    registry's connections over mutual TLS (its HAProxy, with a certificate of that host).
  - C(redis.conf) records a digest of the certificate and the CA bundle, so that a renewed certificate or a CA rollover
    restarts Redis, which reads them at start.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host) (not with O(state=flushed)).
author:
  - dockyard maintainers (@dockyard)
requirements:
  - The Redis client library for Python (C(redis), Debian's C(python3-redis)) 3.5.3 or newer, on the host that runs
    the module; the site playbook's preflight installs it on the hosts of the group C(registry_cache).
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._service
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The configuration's content (it holds the passwords' hashes) is never shown.
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) runs Redis on this host; V(flushed) only empties the database of a running one, at
        O(bind_address) and O(port), with O(admin_password) (the other options are ignored then).
    type: str
    choices: [present, flushed]
    default: present
  bind_address:
    description:
      - The address Redis listens on, which the registry replicas reach. Empty takes the host's default IPv4 address
        (with O(state=flushed) it must be given).
      - A public (globally routable) address and the wildcard addresses are refused.
    type: str
    default: ""
  port:
    description: The port Redis listens on.
    type: int
    default: 6379
  password:
    description:
      - The registry replicas' password, of the Redis user C(default) (see above). Required with O(state=present).
      - Printable ASCII without white space, at least 16 characters.
    type: str
  admin_password:
    description:
      - The password of the Redis user C(dockyard-admin), with which the module checks that Redis answers and
        empties its database. Printable ASCII without white space, at least 16 characters.
    type: str
    required: true
  maxmemory:
    description: Memory Redis may use for keys, in Redis's syntax (V(256mb), V(1gb)), digits and a unit.
    type: str
    default: 256mb
  maxmemory_policy:
    description: What Redis evicts when O(maxmemory) is reached; V(allkeys-lru) suits a cache.
    type: str
    default: allkeys-lru
    choices: [allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl, noeviction]
  binary:
    description: The Redis server binary.
    type: path
    default: /usr/bin/redis-server
  user:
    description: The user Redis runs as, where it exists (Debian's package makes C(redis)); root otherwise.
    type: str
    default: redis
  config_dir:
    description:
      - Directory of C(redis.conf).
      - This, O(data_dir), O(log) and O(binary) must be absolute paths without white space or control characters.
    type: path
    default: /etc/dockyard/redis
  data_dir:
    description: Redis's working directory (owned by O(user), 0750).
    type: path
    default: /var/lib/dockyard/redis
  log:
    description: Redis's log file (appended).
    type: path
    default: /var/log/dockyard/redis.log
  tls_dir:
    description:
      - Directory of the host's TLS key (C(server.key), readable by O(user) alone), its certificate from the
        collection's CA (C(server.crt), with the C(serverAuth) and C(clientAuth) usages) and the CA bundle
        (C(ca.crt)), as the registry_certificate module writes them. Redis presents the certificate and takes only
        clients with a certificate of the CA; the module presents it too.
      - Must be an absolute path without white space or control characters.
    type: path
    default: /etc/dockyard/redis/tls
  timeout:
    description: Seconds to wait for Redis to answer after a start.
    type: int
    default: 60
  flush:
    description: Empty the database the replicas keep their blob descriptors in (C(FLUSHDB)), where it holds keys.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Run Redis for the registry replicas' blob descriptor cache
  dockyard.registry.registry_cache:
    bind_address: 10.0.2.5
    password: "{{ vault_registry_cache_password }}"
    admin_password: "{{ vault_registry_cache_admin_password }}"

- name: Empty the replicas' shared cache after garbage collection, on the Redis host
  dockyard.registry.registry_cache:
    state: flushed
    bind_address: 10.0.2.5
    admin_password: "{{ vault_registry_cache_admin_password }}"
  delegate_to: "{{ groups['registry_cache'][0] }}"
"""

RETURN = r"""
address:
  description: The C(address:port) Redis listens on, which the registry replicas use.
  returned: success
  type: str
  sample: 10.0.2.5:6379
files:
  description: The files, directories and services changed (or, in check mode, to change).
  returned: success
  type: list
  elements: str
service:
  description: What was done to Redis, V(started) or V(restarted); V(null) when nothing was.
  returned: success
  type: str
flushed:
  description: How many keys O(flush) or O(state=flushed) removed (or, in check mode, would remove).
  returned: when O(flush) is true or O(state=flushed)
  type: int
missing_program:
  description: The Redis binary, when it is missing; nothing was changed then.
  returned: when O(binary) is missing
  type: str
"""

import contextlib
import hashlib
import ipaddress
import os
import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import redis
except ImportError:  # the module reports it with missing_required_lib
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._host import default_ipv4, identity
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    SERVICE_MANAGER_OPTION,
    Service,
    ServiceError,
)
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


def run(module) -> dict:
    params = module.params
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
    if not os.access(params["binary"], os.X_OK):
        return {"changed": False, "missing_program": params["binary"]}
    bind = params["bind_address"] or default_ipv4()
    if not bind:
        module.fail_json(msg="registry_cache_bind_address is empty and the host has no default IPv4 address: set it "
                             "to the private address the registry replicas reach Redis at")
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        module.fail_json(msg=f"registry_cache_bind_address must be an IP address of the host; got {bind!r}")
    if address.is_unspecified or address.is_global:
        module.fail_json(msg=f"registry_cache_bind_address {bind} is a public or wildcard address: Redis must listen "
                             "on a private address only")
    try:
        tls_state = tls_digest(tls, module.check_mode, "the registry_cache role", "Redis")
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    owner = params["user"] if user_exists(params["user"]) else "root"
    files = Files(module)
    files.directory(params["config_dir"], 0o755)
    files.directory(params["data_dir"], 0o750, owner=owner, group=owner)
    conf_path = os.path.join(params["config_dir"], "redis.conf")
    changed = files.file(conf_path, redis_conf(bind, params["port"], params["password"], params["admin_password"],
                                               params["maxmemory"], params["maxmemory_policy"], params["data_dir"],
                                               tls, tls_state),
                         0o640, group=owner, secret=True)
    service = Service(files, module.run_command, SERVICE, [params["binary"], conf_path],
                      description="Redis (dockyard.registry cache)", log=params["log"], state_dir=params["config_dir"],
                      manager=params["service_manager"], timeout=params["timeout"],
                      user=owner if owner != "root" else None)

    def ready():
        # Both users: the module's, and the registry's (AUTH <password>, as Distribution sends it).
        for who, credentials in ((ADMIN_USER, admin), ("default", (params["password"],))):
            try:
                with connect(bind, params["port"], credentials, tls) as client:
                    client.ping()
            except redis.RedisError as exc:
                return f"{bind}:{params['port']} refused PING for the user {who}: {exc}"
        return None

    action = service.ensure(changed, ready)
    result = {"changed": files.changed, "files": files.changed_paths, "service": action,
              "address": f"{bind}:{params['port']}", "ansible_facts": {"dockyard_host": identity()}}
    if params["flush"]:
        # A Redis (re)started here saved nothing: it starts empty.
        result["flushed"] = 0 if action else flush(module, bind, params["port"], admin, tls)
        result["changed"] = result["changed"] or result["flushed"] > 0
    if files.diffs:
        result["diff"] = files.diffs
    return result


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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "present", "choices": ["present", "flushed"]},
            "bind_address": {"type": "str", "default": ""},
            "port": {"type": "int", "default": 6379},
            "password": {"type": "str", "no_log": True},
            "admin_password": {"type": "str", "required": True, "no_log": True},
            "maxmemory": {"type": "str", "default": "256mb"},
            "maxmemory_policy": {"type": "str", "default": "allkeys-lru",
                                 "choices": ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                                             "volatile-lfu", "volatile-random", "volatile-ttl", "noeviction"]},
            "binary": {"type": "path", "default": "/usr/bin/redis-server"},
            "user": {"type": "str", "default": "redis"},
            "config_dir": {"type": "path", "default": "/etc/dockyard/redis"},
            "data_dir": {"type": "path", "default": "/var/lib/dockyard/redis"},
            "log": {"type": "path", "default": "/var/log/dockyard/redis.log"},
            "service_manager": SERVICE_MANAGER_OPTION,
            "tls_dir": {"type": "path", "default": "/etc/dockyard/redis/tls"},
            "timeout": {"type": "int", "default": 60},
            "flush": {"type": "bool", "default": False},
        },
        required_if=[("state", "present", ["password"])],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (ServiceError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
