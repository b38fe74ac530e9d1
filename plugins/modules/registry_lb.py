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
  - Runs HAProxy in master-worker mode as a service (see the notes). A changed configuration is loaded by a reload
    (C(SIGUSR2) to the master), which keeps open connections; HAProxy answers once every address of O(listen) takes
    connections.
  - Where HAProxy is missing, changes nothing and says so in RV(missing_program), so that the role installs the
    package first.
  - Returns the state of every backend server from HAProxy's runtime API (O(runtime_socket)).
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host).
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._service
  - dockyard.registry._service.program
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._haproxy import RuntimeAPIError
from ansible_collections.dockyard.registry.plugins.module_utils._haproxy_host import HAProxyHost
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import run_module, service_options


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "str", "required": True, "no_log": True},
            "config_secret": {"type": "bool", "default": False},
            "ca": {"type": "str", "default": ""},
            "listen": {"type": "list", "elements": "str", "default": []},
            "runtime_socket": {"type": "path", "default": "/run/dockyard/haproxy.sock"},
            "name": {"type": "str", "default": "dockyard-haproxy"},
            "certificate_files": {"type": "list", "elements": "path", "default": []},
            "client_certificate_files": {"type": "list", "elements": "path", "default": []},
            **service_options(binary="/usr/sbin/haproxy", config_dir="/etc/dockyard/haproxy",
                              log="/var/log/dockyard/haproxy.log", timeout=60),
        },
        supports_check_mode=True,
    )
    run_module(module, HAProxyHost, errors=(RuntimeAPIError,))


if __name__ == "__main__":
    main()
