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
  - Runs as a service (see the notes), as the user C(redis) where it exists. Restarted when its configuration
    changed; it answers once both users' C(AUTH) and C(PING) succeed.
  - Where C(redis-server) is missing, changes nothing and says so in RV(missing_program), so that the role installs
    the package first.
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
  - dockyard.registry._service.program
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._redis_host import RedisHost
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import run_module, service_options


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
            "user": {"type": "str", "default": "redis"},
            "data_dir": {"type": "path", "default": "/var/lib/dockyard/redis"},
            "tls_dir": {"type": "path", "default": "/etc/dockyard/redis/tls"},
            "flush": {"type": "bool", "default": False},
            **service_options(binary="/usr/bin/redis-server", config_dir="/etc/dockyard/redis",
                              log="/var/log/dockyard/redis.log", timeout=60),
        },
        required_if=[("state", "present", ["password"])],
        supports_check_mode=True,
    )
    run_module(module, RedisHost)


if __name__ == "__main__":
    main()
