# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the options of the modules that speak to a registry, and those of the
modules that push images (module_utils/_image.py)."""

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
        task; a blob's deadline grows with its size (the time it takes at 256 KiB/s, 6 hours at most, so a larger blob
        has to come faster).
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

    # The modules that push images through module_utils/_image.py (registry_image, registry_smoke): their connection
    # and signing options, as image_argument_spec() declares them.
    IMAGE = r"""
options:
  insecure:
    description:
      - Treat the registry as the Docker daemon treats one listed in its C(insecure-registries), with HTTPS that does
        not verify the certificate, and plain HTTP where the registry does not speak TLS.
      - Not given, the module asks the Docker daemon on this host whether it lists the registry as insecure, by
        name or by an address in its insecure CIDRs, and does the same.
    type: bool
  insecure_send_credentials:
    description:
      - With O(insecure), also send the credentials to a registry whose certificate could not be verified, as the
        Docker daemon does for the registries in its C(insecure-registries).
      - Off, the module tries TLS that verifies first (with what the daemon trusts for the registry) and sends the
        credentials only where that succeeds, since whoever presents an unverified certificate would read the
        password.
      - Never over plain HTTP, whatever this option says.
    type: bool
    default: false
  sign:
    description:
      - Sign the image the module pushes by its digest, in cosign's format, so that C(cosign verify --key), Podman's
        C(sigstoreSigned) policy (see the dockyard.registry.registry_trust role's C(registry_signature_policy)) and
        O(dockyard.registry.registry_image#module:verify=signature) accept it.
      - The signature is written to the registry as cosign writes it, a C(sha256-<hex>.sig) tag beside the image. A
        signature by the same key that is there already is kept and nothing is written, so a second run reports
        C(changed=false). Signatures by other keys stay.
      - The key is opened on the host that runs the module, which needs the Python library PyNaCl for it (Debian
        and Ubuntu, python3-nacl); keep the key and its password on the controller (Ansible Vault) and give the key's
        text with a C(file) lookup.
    type: dict
    suboptions:
      key:
        description:
          - The private key's text, as C(cosign generate-key-pair) writes it (C(ENCRYPTED SIGSTORE PRIVATE KEY) or
            C(ENCRYPTED COSIGN PRIVATE KEY)).
          - Exactly one of O(sign.key) and O(sign.key_path).
        type: str
      key_path:
        description:
          - The path of that file on the host that runs the module.
        type: path
      password:
        description:
          - The password the key was sealed with (C(COSIGN_PASSWORD) when it was made).
        type: str
        required: true
"""
