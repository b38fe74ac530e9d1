# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_lb
short_description: HAProxy in front of the registry replicas or of one registry, its configuration checked before it is used
version_added: 0.3.0
description:
  - Puts HAProxy's configuration O(config) (made on the controller by the registry_lb role) into
    C(<config_dir>/haproxy.cfg) (root, 0640) and the CA that verifies the replicas' certificates in its health
    checks into C(<config_dir>/ca.crt), writing only what differs. A new configuration is checked with
    C(haproxy -c) first and left out when HAProxy refuses it.
  - The registry_server role runs a second HAProxy with it on each registry host, the authenticating proxy in front of
    the registry (under another O(name)), whose TLS certificate and key the module puts together from the host's
    files (O(certificate_files)) into C(<config_dir>/server.pem) (root, 0600).
  - Runs HAProxy in master-worker mode, kept running by systemd where it is the service manager and by a small
    supervisor started detached elsewhere (pid files in C(/run/dockyard), output appended to O(log)). A changed
    configuration is loaded by a reload (C(SIGUSR2) to the master), which keeps open connections; a start waits
    until every address of O(listen) takes connections.
  - Where HAProxy is missing, changes nothing and says so in RV(missing_program), so that the role installs the
    package first.
  - Returns the state of every backend server from HAProxy's runtime API (O(runtime_socket)).
  - A run that changes nothing is one call of this module on the host.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host).
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._service
attributes:
  check_mode:
    support: full
    details:
      - A configuration is checked with C(haproxy -c) only outside check mode, where its CA file is in place.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  config:
    description: The content of C(haproxy.cfg).
    type: str
    required: true
  config_secret:
    description: C(haproxy.cfg) holds secrets (the authenticating proxy's password hashes and the registry's internal
      credential), so its content is left out of the diff.
    type: bool
    default: false
  ca:
    description: The CA certificate (PEM) that verifies the replicas' certificates; empty removes C(ca.crt).
    type: str
    default: ""
  listen:
    description: The C(address:port) of every frontend, which must take connections after a start.
    type: list
    elements: str
    default: []
  runtime_socket:
    description: HAProxy's runtime API socket, as C(haproxy.cfg) declares it (C(stats socket)).
    type: path
    default: /run/dockyard/haproxy.sock
  binary:
    description: The HAProxy binary.
    type: path
    default: /usr/sbin/haproxy
  config_dir:
    description: Directory of C(haproxy.cfg) and C(ca.crt).
    type: path
    default: /etc/dockyard/haproxy
  log:
    description: HAProxy's log file (appended); the configuration logs to standard output.
    type: path
    default: /var/log/dockyard/haproxy.log
  timeout:
    description: Seconds to wait for HAProxy to take connections after a start.
    type: int
    default: 60
  name:
    description: The name of HAProxy's service (the systemd unit, or the supervisor's files); one for each HAProxy the
      host runs.
    type: str
    default: dockyard-haproxy
  certificate_files:
    description:
      - Files on the host (a certificate and its chain, then its private key, in PEM) that make
        C(<config_dir>/server.pem), which C(haproxy.cfg) names on a TLS C(bind) line; a change reloads HAProxy.
      - Empty removes C(server.pem).
    type: list
    elements: path
    default: []
  client_certificate_files:
    description:
      - Files on the host (a certificate and its chain, then its private key, in PEM) that make
        C(<config_dir>/client.pem) (root, 0600), which C(haproxy.cfg) names on a TLS C(server) line as the
        certificate HAProxy presents to that server (the registry_server role's endpoint to Redis); a change reloads
        HAProxy.
      - Empty removes C(client.pem).
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Run HAProxy in front of the registry replicas
  dockyard.registry.registry_lb:
    config: "{{ lookup('ansible.builtin.template', 'haproxy.cfg.j2') }}"
    ca: "{{ lookup('ansible.builtin.file', registry_pki_dir ~ '/ca.crt') }}"
    listen: ["10.0.1.5:5000"]
"""

RETURN = r"""
files:
  description: The files and services changed (or, in check mode, to change).
  returned: success
  type: list
  elements: str
service:
  description: What was done to HAProxy, V(started), V(restarted) or V(reloaded); V(null) when nothing was.
  returned: success
  type: str
servers:
  description: Every backend server as HAProxy's runtime API reports it, with its backend, name, address, status, current
    sessions and last health check.
  returned: success, outside check mode
  type: list
  elements: dict
  sample: [{backend: registry_replicas, name: registry1, address: 10.0.1.11:5000, status: UP, sessions: 0, check: L7OK}]
missing_program:
  description: The HAProxy binary, when it is missing; nothing was changed then.
  returned: when O(binary) is missing
  type: str
"""

import os
import socket
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._haproxy import RuntimeAPIError, servers
from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._names import address_host, split_host_port
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    SERVICE_MANAGER_OPTION,
    Service,
    ServiceError,
)

DESCRIPTIONS = {"dockyard-haproxy": "HAProxy (dockyard.registry load balancer)"}


def check_config(module, config: bytes, config_dir: str) -> None:
    """``haproxy -c`` on the new configuration, from a file beside the real one (relative paths resolve alike)."""
    handle, staged = tempfile.mkstemp(prefix=".haproxy.cfg.", dir=config_dir)
    try:
        with os.fdopen(handle, "wb") as new:
            new.write(config)
        rc, out, err = module.run_command([module.params["binary"], "-c", "-f", staged])
    finally:
        os.unlink(staged)
    if rc != 0:
        module.fail_json(msg=f"HAProxy refuses the new configuration, which was left out: {(out + err).strip()}")


def answers(address: str) -> bool:
    _host, port = split_host_port(address)
    try:
        with socket.create_connection((address_host(address), int(port)), timeout=2):
            return True
    except OSError:
        return False


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise OSError(f"cannot read {path} for HAProxy's certificate file: {exc.strerror}. Run the "
                      "dockyard.registry.registry_pki role first") from exc


def _with_newline(content: bytes) -> bytes:
    return content if not content or content.endswith(b"\n") else content + b"\n"


def certificate_file(module, files: Files, pem_path: str, sources: list[str]) -> bool:
    """``pem_path`` (0600) made from the files ``sources`` (a certificate, its chain, its key), or removed where there
    are none; True where it changed (or, in check mode, would)."""
    missing = [path for path in sources if not os.path.isfile(path)]
    if missing and module.check_mode:
        # A check run before the certificate's first issue: it would be made from the files issued then.
        files.pending(pem_path, f"made from {', '.join(sources)} once they are issued")
        return True
    pem = b"".join(_with_newline(_read(path)) for path in sources)
    return files.file(pem_path, pem, 0o600, secret=True) if pem else files.absent(pem_path, secret=True)


def run(module) -> dict:
    params = module.params
    if not os.access(params["binary"], os.X_OK):
        return {"changed": False, "missing_program": params["binary"]}
    files = Files(module)
    files.directory(params["config_dir"], 0o755)
    files.directory(os.path.dirname(params["runtime_socket"]), 0o755)
    ca_path = os.path.join(params["config_dir"], "ca.crt")
    config_path = os.path.join(params["config_dir"], "haproxy.cfg")
    ca = params["ca"].encode()
    if ca and not ca.endswith(b"\n"):
        ca += b"\n"
    changed = files.file(ca_path, ca, 0o644) if ca else files.absent(ca_path)
    for name, option in (("server.pem", "certificate_files"), ("client.pem", "client_certificate_files")):
        changed = certificate_file(module, files, os.path.join(params["config_dir"], name), params[option]) or changed
    config = params["config"].encode()
    if files.read(config_path) != config and not module.check_mode:
        check_config(module, config, params["config_dir"])
    changed = files.file(config_path, config, 0o640, secret=params["config_secret"]) or changed
    argv = [params["binary"], "-W", "-db", "-f", config_path]
    description = DESCRIPTIONS.get(params["name"], f"HAProxy ({params['name']})")
    service = Service(files, module.run_command, params["name"], argv, description=description,
                      log=params["log"], state_dir=params["config_dir"], manager=params["service_manager"],
                      reload_signal="USR2", timeout=params["timeout"])

    def ready():
        silent = [address for address in params["listen"] if not answers(address)]
        if silent:
            return f"nothing takes connections at {', '.join(silent)}"
        return None if os.path.exists(params["runtime_socket"]) else f"no runtime API socket {params['runtime_socket']}"

    action = service.ensure(changed, ready)
    result = {"changed": files.changed, "files": files.changed_paths, "service": action,
              "ansible_facts": {"dockyard_host": identity()}}
    if not module.check_mode:
        result["servers"] = servers(params["runtime_socket"])
    if files.diffs:
        result["diff"] = files.diffs
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "str", "required": True, "no_log": True},
            "config_secret": {"type": "bool", "default": False},
            "ca": {"type": "str", "default": ""},
            "listen": {"type": "list", "elements": "str", "default": []},
            "runtime_socket": {"type": "path", "default": "/run/dockyard/haproxy.sock"},
            "binary": {"type": "path", "default": "/usr/sbin/haproxy"},
            "config_dir": {"type": "path", "default": "/etc/dockyard/haproxy"},
            "log": {"type": "path", "default": "/var/log/dockyard/haproxy.log"},
            "service_manager": SERVICE_MANAGER_OPTION,
            "timeout": {"type": "int", "default": 60},
            "name": {"type": "str", "default": "dockyard-haproxy"},
            "certificate_files": {"type": "list", "elements": "path", "default": []},
            "client_certificate_files": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (ServiceError, RuntimeAPIError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
