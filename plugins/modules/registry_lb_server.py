# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_lb_server
short_description: Drain a registry replica on HAProxy, or put it back, through HAProxy's runtime API
version_added: 0.3.0
description:
  - Runs on a load balancer of the registry_lb role. With O(state=drained), tells HAProxy to send the replica O(name)
    no new connection (C(set server <backend>/<name> state drain)) and waits until its open connections have ended, at
    most O(timeout) seconds, so that the replica can be replaced without cutting a transfer.
  - With O(state=ready), puts the replica back (C(state ready)) and waits, at most O(timeout) seconds, until HAProxy's
    health checks mark it C(UP); the module fails when they do not, naming the last check.
  - Where HAProxy does not run yet (no O(runtime_socket)), or its backend has no such server, changes nothing and says
    so in RV(found), there being nothing to drain.
  - The registry_server role calls it, delegated to each load balancer, around the replacement of a replica's
    container, one replica at a time.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what it would change, and waits for nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    description: The server's name in the backend (the registry_lb role names each replica by its inventory name).
    type: str
    required: true
  state:
    description: V(drained) (no new connection, open ones ended) or V(ready) (taking connections, and up).
    type: str
    choices: [drained, ready]
    required: true
  backend:
    description: The backend of the replicas in C(haproxy.cfg).
    type: str
    default: registry_replicas
  runtime_socket:
    description: HAProxy's runtime API socket (C(registry_lb_runtime_socket)).
    type: path
    default: /run/dockyard/haproxy.sock
  timeout:
    description:
      - V(drained) waits this many seconds at most for the replica's connections to end; those still open then are
        cut when the replica is replaced (RV(sessions) counts them, and the module warns).
      - V(ready) waits this many seconds at most until the replica is up, and fails after that.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Drain registry1 on the load balancer
  dockyard.registry.registry_lb_server:
    name: registry1
    state: drained
  delegate_to: lb1.example.com

- name: Put registry1 back once it is healthy
  dockyard.registry.registry_lb_server:
    name: registry1
    state: ready
    timeout: 60
  delegate_to: lb1.example.com
"""

RETURN = r"""
found:
  description: Whether HAProxy runs and its backend has the server; nothing was done otherwise.
  returned: always
  type: bool
status:
  description: The server's status in C(show stat) at the end (C(UP), C(DRAIN), C(DOWN), C(MAINT), C(UP 1/2), ...).
  returned: when RV(found)
  type: str
  sample: DRAIN
sessions:
  description: The server's open connections at the end (for V(drained), those the wait left).
  returned: when RV(found)
  type: int
check:
  description: The result of the server's last health check (HAProxy's check_status, e.g. C(L7OK), C(L4CON)).
  returned: when RV(found)
  type: str
waited:
  description: Seconds spent waiting for the connections to end or for the server to come up.
  returned: when RV(found)
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._haproxy import (
    ADMIN_FORCED_DRAIN,
    ADMIN_FORCED_MAINT,
    RuntimeAPIError,
    admin_state,
    answers,
    server,
    set_state,
    wait_until,
)


def drained(row: dict) -> bool:
    return row["sessions"] == 0


def up(row: dict) -> bool:
    return row["status"] in ("UP", "no check")


def run(module) -> dict:
    params = module.params
    socket_path, backend, name = params["runtime_socket"], params["backend"], params["name"]
    if not answers(socket_path):
        return {"changed": False, "found": False}
    admin = admin_state(socket_path, backend, name)
    current = server(socket_path, backend, name)
    if admin is None or current is None:
        return {"changed": False, "found": False}
    if params["state"] == "drained":
        # Any maintenance or drain, forced here or by the configuration, already keeps new connections away.
        changed = admin == 0
        if changed and not module.check_mode:
            set_state(socket_path, backend, name, "drain")
        done = drained
    else:
        changed = bool(admin & (ADMIN_FORCED_DRAIN | ADMIN_FORCED_MAINT))
        if changed and not module.check_mode:
            set_state(socket_path, backend, name, "ready")
        done = up
    waited = 0.0
    if not module.check_mode:
        current, waited = wait_until(socket_path, backend, name, done, params["timeout"])
    result = {"changed": changed, "found": True, "status": current["status"], "sessions": current["sessions"],
              "check": current["check"], "waited": round(waited, 1)}
    if module.check_mode or done(current):
        return result
    if params["state"] == "drained":
        module.warn(f"{backend}/{name} still had {current['sessions']} open connection(s) after {params['timeout']} s "
                    "of draining: they end when the replica is replaced.")
        return result
    module.fail_json(msg=f"HAProxy did not mark {backend}/{name} up within {params['timeout']} s: its status is "
                         f"{current['status']}, its last health check {current['check'] or 'none'}. The replica stays "
                         "out of the load; see its registry container's log.", **result)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["drained", "ready"]},
            "backend": {"type": "str", "default": "registry_replicas"},
            "runtime_socket": {"type": "path", "default": "/run/dockyard/haproxy.sock"},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except RuntimeAPIError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
