# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_trust
short_description: Make every container runtime of this host trust a private registry at every address, log in, and probe it
version_added: 0.2.0
description:
  - Everything a host needs to use a private registry, in one pass that reads the host's state once and changes
    only what differs, for each container runtime of O(runtimes) (Docker, containerd, the Podman family).
  - With O(mode=ca), puts the registry's CA into C(<certs_dir>/<address>/ca.crt) (root, 0444, in a 0755
    directory) for every address of O(addresses), and the next CA of a CA rollover beside it as C(ca-next.crt)
    while O(ca_next) is given. The daemon reads certs.d at each connection, so nothing restarts.
  - With O(mode=insecure), merges O(addresses) into C(insecure-registries) of C(daemon.json) (every other key kept,
    a backup made, applied by a reload; see M(dockyard.registry.docker_daemon_config)) and checks with
    C(docker info) that the daemon lists them.
  - With O(login), logs the host in at every address the registry accepts the account at, into the Docker client
    configuration O(docker_config) (0600, in a 0700 directory), where the Docker CLI and SDK read it. The password
    is checked against the registry first, over TLS the probe has verified; an address this host cannot resolve is
    left out.
  - With O(probe), asks every address the way the daemon would (M(dockyard.registry.registry_probe), in the same
    process) and fails, naming the failure and its remedy, unless the daemon can use the registry at every address
    this host resolves. RV(unresolved) lists the addresses the host does not resolve; it fails when it resolves none.
  - Docker whose engine is 29 or later, or uses the containerd image store, also gets a C(hosts.toml) beside the CA
    in certs.d (that engine reads it first, and ignores C(insecure-registries) on push); in insecure mode it says
    C(skip_verify) (TLS) or names an C(http://) host.
  - containerd gets C(<hosts dir>/<address>/hosts.toml) and C(ca.crt) (C(skip_verify) or an C(http://) host in
    insecure mode), and, on containerd 1.x with the CRI plugin and no C(config_path) yet, C(config_path) merged into
    C(/etc/containerd/config.toml) with C(tomlkit), every comment and other line kept (a backup kept, 0600; containerd
    restarted once, through systemd, its init script or its pid file). A C(config.toml) that does not parse is left as
    it is, and the task names the file and the line; one whose edit would not parse back as intended is left too, and
    the task asks for C(config_path) to be set by hand.
  - The Podman family (Podman, Buildah, Skopeo, CRI-O) gets C(/etc/containers/certs.d/<address>/ca.crt), or an
    insecure C(registries.conf.d) drop-in, and the login in C(/root/.config/containers/auth.json) (0600).
    A C(registries.conf) that does not parse stops the task, naming the file and the line.
  - With O(mirrors), lists pull-through mirrors of Docker Hub in C(registry-mirrors) of C(daemon.json) (merged,
    applied by a reload), each trusted as the registry is (its CA in C(<certs_dir>/<host:port>/), or, with
    O(mode=insecure), its address in C(insecure-registries)), and checks with C(docker info) that the daemon lists them.
    containerd gets them in C(<hosts dir>/docker.io/hosts.toml) before Docker Hub, the Podman family as
    C([[registry.mirror]]) entries of a docker.io registry in its drop-in; each mirror trusted as the registry is.
  - With O(mirror_client_certificate) and O(mirror_client_key) (the host's client certificate, which the
    collection's mirror asks every client for), each runtime presents it to the mirrors in O(mode=ca). Docker and the
    Podman family from C(client.cert) and C(client.key) (0400) beside the mirror's CA in their C(certs.d), containerd
    from the same files in its hosts directory, named by C(client) in the C(hosts.toml) files.
  - With O(signature_policy=enforce), the Podman family refuses every image of the registry that has no valid cosign
    signature by one of O(public_keys). A C(sigstoreSigned) scope per address is merged into
    C(/etc/containers/policy.json) (the default and every other scope kept, a backup of the file made; a file that is
    not valid JSON or no policy stops the task with nothing changed), and C(/etc/containers/registries.d/dockyard-registry.yaml)
    tells the tools to read the signatures from the registry (C(use-sigstore-attachments)). O(signature_policy=off)
    and O(state=absent) take both out again (a scope only where it is still the C(sigstoreSigned) one written here).
    Docker and containerd have no such policy; RV(runtimes) says so for each (C(signatures)).
  - O(state=absent) takes all of it away again (the mirrors' client certificates too, with
    O(mirror_client_certificate)); client certificates an operator put into certs.d stay.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - C(cryptography) 3.1 or newer, for the probe.
  - Docker SDK for Python (C(docker)), with O(mode=insecure).
  - C(tomlkit) 0.11.7 or newer (C(python3-tomlkit)), where containerd's C(config.toml) must change.
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTIONGROUP
attributes:
  check_mode:
    support: full
    details:
      - Predicts every file and daemon.json change without making it. The probe runs all the same; a host whose
        trust would change is not failed for what the probe finds before the change.
  diff_mode:
    support: full
    details:
      - The Docker client configuration's content is not shown; it holds the password.
      - In the other files (C(daemon.json), C(config.toml), C(registries.conf) drop-ins), passwords, tokens and the user
        information of URLs are shown as V(<redacted>).
  idempotent:
    support: full
options:
  runtimes:
    description:
      - The container runtimes to trust the registry in. V(auto) takes those the host has (Docker where C(dockerd)
        or its socket is there; containerd where a containerd of its own serves clients; the Podman family where
        C(podman), C(buildah), C(skopeo) or C(crio) is installed); the task fails on a host that has none.
    type: list
    elements: str
    choices: [auto, docker, containerd, podman]
    default: [auto]
  addresses:
    description:
      - The registry's addresses, V(host:port) as in image references (query them with
        P(dockyard.registry.registry_addresses#lookup)).
    type: list
    elements: str
    required: true
  mode:
    description: V(ca) trusts the registry's CA; V(insecure) lists the addresses in C(insecure-registries).
    type: str
    choices: [ca, insecure]
    default: ca
  state:
    description: V(present) trusts the registry; V(absent) removes what this module put in place.
    type: str
    choices: [present, absent]
    default: present
  ca:
    description: The CA certificate(s), PEM, that signed the registry's certificate. Required with O(mode=ca) and O(state=present).
    type: str
  ca_next:
    description: The next CA of a CA rollover, PEM, trusted beside O(ca); empty removes it.
    type: str
    default: ""
  tls:
    description: Whether the registry serves TLS; without it the probe speaks plain HTTP (O(mode=insecure) only).
    type: bool
    default: true
  certs_dir:
    description: Docker's per-registry trust directory.
    type: path
    default: /etc/docker/certs.d
  daemon_json:
    description: The daemon's configuration file, with O(mode=insecure).
    type: path
    default: /etc/docker/daemon.json
  daemon_apply:
    description: How a daemon.json change reaches the daemon (as the C(apply) option of M(dockyard.registry.docker_daemon_config)).
    type: str
    choices: [auto, reload, restart, none]
    default: auto
  login:
    description: The account to log the host in with; no login without it.
    type: dict
    suboptions:
      username:
        description: The account's name.
        type: str
        required: true
      password:
        description: Its password.
        type: str
        required: true
  docker_config:
    description: The Docker client configuration that receives the login.
    type: path
    default: /root/.docker/config.json
  probe:
    description: Probe every address after the change, and fail unless the daemon can use the registry.
    type: bool
    default: true
  insecure_send_credentials:
    description:
      - With O(mode=insecure), send the password to a registry whose certificate does not verify, to check the
        login. Whoever presents a certificate there receives it.
    type: bool
    default: false
  mirrors:
    description:
      - Pull-through mirrors of Docker Hub, each the https URL of a registry (V(https://<host>[:<port>]), no path),
        for Docker's C(registry-mirrors), containerd's C(docker.io/hosts.toml), the Podman family's C([[registry.mirror]]).
        Any other URL fails the task before anything changes.
      - Every runtime asks them in their order for images of C(docker.io), and Docker Hub itself where none has the
        image.
    type: list
    elements: str
    default: []
  mirror_client_certificate:
    description:
      - Path on the host of its client certificate (PEM, with the C(clientAuth) usage) for the mirrors of O(mirrors),
        which ask every client for a certificate of the collection's CA; with O(mirror_client_key).
      - Copied where each runtime reads it for every mirror, in O(mode=ca) only (Docker reads no C(certs.d) for an
        insecure registry). A file that is missing fails the task before anything changes, outside check mode.
    type: path
  mirror_client_key:
    description: Path on the host of the private key of O(mirror_client_certificate); its copies are 0400 and never shown.
    type: path
  signature_policy:
    description:
      - V(enforce) makes the Podman family (Podman, Buildah, Skopeo, CRI-O) refuse images of the registry without a
        valid cosign signature by one of O(public_keys), at every address of O(addresses).
      - V(off) leaves the policy as the host has it, taking out the scopes an earlier V(enforce) wrote.
      - Podman 4.8 or later reads several keys; Debian 12's Podman 4.3 was built without sigstore verification
        and then refuses every image of the registry.
    type: str
    choices: ['off', enforce]
    default: 'off'
  public_keys:
    description:
      - The cosign public keys (the text of each C(cosign.pub), PEM) whose signatures O(signature_policy=enforce)
        accepts.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds each step of a probe, and a daemon reload, may take.
    type: int
    default: 10
seealso:
  - module: dockyard.registry.registry_probe
  - module: dockyard.registry.registry_image
    description: Signs images (O(dockyard.registry.registry_image#module:sign)) and checks signatures
      (O(dockyard.registry.registry_image#module:verify=signature)).
  - module: dockyard.registry.docker_daemon_config
  - plugin: dockyard.registry.registry_addresses
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Trust the registry at every address, log in and probe it
  dockyard.registry.registry_trust:
    addresses: "{{ query('dockyard.registry.registry_addresses', *groups['registry']) }}"
    ca: "{{ lookup('ansible.builtin.file', registry_pki_dir ~ '/ca.crt') }}"
    login:
      username: ci
      password: "{{ vault_registry_ci_password }}"

- name: Trust the registry, and pull Docker Hub's images through the pull-through mirror beside it
  dockyard.registry.registry_trust:
    addresses: "{{ query('dockyard.registry.registry_addresses', *groups['registry']) }}"
    ca: "{{ lookup('ansible.builtin.file', registry_pki_dir ~ '/ca.crt') }}"
    mirrors:
      - https://registry.example.com:5001

- name: Trust the registry, and have Podman hosts refuse its images unless signed by the pipeline's key
  dockyard.registry.registry_trust:
    addresses: "{{ query('dockyard.registry.registry_addresses', *groups['registry']) }}"
    ca: "{{ lookup('ansible.builtin.file', registry_pki_dir ~ '/ca.crt') }}"
    signature_policy: enforce
    public_keys:
      - "{{ lookup('ansible.builtin.file', 'keys/cosign.pub') }}"

- name: Stop trusting it
  dockyard.registry.registry_trust:
    addresses: ["registry.example.com:5000"]
    state: absent
"""

RETURN = r"""
addresses:
  description: O(addresses).
  returned: always
  type: list
  elements: str
files:
  description: The files and directories changed (or, in check mode, to change).
  returned: always
  type: list
  elements: str
  sample: [/etc/docker/certs.d/192.0.2.10:5000/ca.crt]
in_force:
  description:
    - The files through which the host trusts the registry after this run (in check mode, after the changes it predicts).
    - The CA files of every address with O(mode=ca), O(daemon_json) with O(mode=insecure); empty with
      O(state=absent).
  returned: always
  type: list
  elements: str
  sample: [/etc/docker/certs.d/192.0.2.10:5000/ca.crt, /etc/docker/certs.d/registry.example.com:5000/ca.crt]
daemon_action:
  description: What was done to the daemon with O(mode=insecure), V(none), V(reload) or V(restart).
  returned: with O(mode=insecure)
  type: str
runtimes:
  description:
    - Per runtime trusted, why it counts (C(found)), the files changed (C(files)), and, after the probe, for every
      address which files it reads and whether it verifies the registry's certificate (C(trust)).
    - C(signatures) says whether the runtime refuses unsigned images of the registry, C(enforced) for the Podman
      family with O(signature_policy=enforce), or, for Docker and containerd then, that they cannot and what to use
      instead.
  returned: always
  type: dict
  sample:
    docker:
      found: dockerd is installed
      files: []
      trust: [{address: "192.0.2.10:5000", reads: ["/etc/docker/certs.d/192.0.2.10:5000/ca.crt"], verifies: true}]
mirrors_action:
  description: What the change of C(registry-mirrors) did to the daemon, V(none), V(reload) or V(restart).
  returned: with O(mirrors)
  type: str
logins:
  description: Per address, V(logged in), V(logged out) or why not (the Docker login; the Podman one goes to auth.json).
  returned: with O(login) on a host with Docker
  type: dict
  sample: {"192.0.2.10:5000": logged in, "registry:5000": "skipped: not resolved here"}
unresolved:
  description: The addresses this host does not resolve (often inventory names only the certificate carries).
  returned: with O(probe) and O(state=present)
  type: list
  elements: str
  sample: ["registry1:5000"]
probe:
  description: The probe's verdict for every address (see M(dockyard.registry.registry_probe)).
  returned: with O(probe) and O(state=present)
  type: list
  elements: dict
  contains:
    registry:
      description: The address.
      type: str
    status:
      description: The verdict.
      type: str
    detail:
      description: What the probe saw.
      type: str
    remedy:
      description: What to do about it.
      type: str
    problems:
      description: Every problem of the certificate.
      type: list
      elements: str
    login_role:
      description:
        - The role of the host's login as the registry host's authenticating proxy named it, V(pull), V(push), or
          V(push) followed by the repository prefixes the account is limited to (V(push team-a/*)).
        - Only where the login was sent and accepted, by a registry the collection deployed with accounts.
      type: str
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_json import DaemonJsonError
from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import DaemonError
from ansible_collections.dockyard.registry.plugins.module_utils._host_trust import HostTrust, TrustError, mirror_address
from ansible_collections.dockyard.registry.plugins.module_utils._names import AddressError
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.dockyard.registry.plugins.module_utils._registry.probe import CRYPTOGRAPHY_IMPORT_ERROR


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "runtimes": {"type": "list", "elements": "str", "default": ["auto"],
                         "choices": ["auto", "docker", "containerd", "podman"]},
            "addresses": {"type": "list", "elements": "str", "required": True},
            "mode": {"type": "str", "default": "ca", "choices": ["ca", "insecure"]},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "ca": {"type": "str"},
            "ca_next": {"type": "str", "default": ""},
            "tls": {"type": "bool", "default": True},
            "certs_dir": {"type": "path", "default": "/etc/docker/certs.d"},
            "daemon_json": {"type": "path", "default": "/etc/docker/daemon.json"},
            "daemon_apply": {"type": "str", "default": "auto", "choices": ["auto", "reload", "restart", "none"]},
            "login": {"type": "dict", "options": {"username": {"type": "str", "required": True},
                                                  "password": {"type": "str", "required": True, "no_log": True}}},
            "docker_config": {"type": "path", "default": "/root/.docker/config.json"},
            "probe": {"type": "bool", "default": True},
            "insecure_send_credentials": {"type": "bool", "default": False},
            "mirrors": {"type": "list", "elements": "str", "default": []},
            "mirror_client_certificate": {"type": "path"},
            "mirror_client_key": {"type": "path", "no_log": False},
            "signature_policy": {"type": "str", "default": "off", "choices": ["off", "enforce"]},
            "public_keys": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "int", "default": 10},
        },
        required_together=[("mirror_client_certificate", "mirror_client_key")],
        supports_check_mode=True,
    )
    if module.params["probe"] and CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    if module.params["mode"] == "ca" and module.params["state"] == "present" and not (module.params["ca"] or "").strip():
        module.fail_json(msg="ca is empty: with mode=ca and state=present, give the CA certificate (PEM) to trust")
    try:
        for url in module.params["mirrors"]:
            mirror_address(url)
    except TrustError as exc:
        module.fail_json(msg=str(exc))
    trust = HostTrust(module)
    try:
        result = trust.run()
    except (TrustError, DaemonError, DaemonJsonError, RegistryError, AddressError) as exc:
        module.fail_json(msg=str(exc), **trust.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
