# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_image
short_description: Push, pull, verify and sign images in a private registry by digest
version_added: 0.1.0
description:
  - Pushes a local image to a registry, pulls one from it, or checks that the registry, the manifest bytes it
    serves and the Docker daemon all agree on an image's digest.
  - Signs images by digest in cosign's format (O(sign), O(state=signed)), and refuses a digest without a valid
    signature by one of O(public_keys) (O(verify=signature)).
  - Talks to the Docker daemon through the Docker SDK for pushing and pulling, and to the registry's HTTP API
    directly to read manifests and their digests.
  - Trusts for the registry what the Docker daemon on the same host trusts, that is the system roots and every
    C(*.crt) in C(/etc/docker/certs.d/<host:port>/), with the C(*.cert)/C(*.key) pair there as client certificate,
    unless O(ca_path) is given. C(REQUESTS_CA_BUNDLE) and proxy variables are ignored, as the daemon ignores them.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTIONGROUP
  - dockyard.registry._registry
  - dockyard.registry._registry.DOCKER
  - dockyard.registry._registry.IMAGE
attributes:
  check_mode:
    support: full
    details:
      - With O(state=pushed) and O(state=pulled) the module asks the registry and the daemon, then predicts
        C(changed) without tagging, pushing or pulling.
      - With O(state=verified) and O(pull=true), an image the host does not have yet is not pulled, and
        RV(digests.repo_digest) is missing from the result.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    description:
      - The image reference in the registry, with the registry's address, for example V(registry.example.com:5000/team/app:1.0)
        or V(registry.example.com:5000/team/app@sha256:0123…) (the 64 hexadecimal digits of a C(sha256) digest).
      - Without a tag or digest the tag is V(latest).
      - O(state=pushed) needs a tag, not a digest.
    type: str
    required: true
  source:
    description:
      - The local image to push, by name, reference or ID. The module tags it as O(name) before pushing.
      - Defaults to O(name). Only used with O(state=pushed).
    type: str
  state:
    description:
      - V(pushed) tags O(source) as O(name) and pushes it, unless the registry already serves that image under
        that tag, and signs it with O(sign) where given. Where the daemon reports that the registry failed the push with a server error (5xx), which it
        names by its status alone, the module uploads 64 KiB of its own to the repository, cancelled at once, and
        adds what the registry answers to the message (its storage full, for one).
      - V(pulled) pulls O(name) (by tag or by digest), unless the host already has the image the registry serves
        for it.
      - V(verified) reads the digest of O(name) in every way there is (see RV(digests)) and fails unless all agree.
      - V(signed) signs the image O(name) names in the registry (the digest its tag has now, or the digest it gives)
        with O(sign), unless a signature by that key is there already. It needs no Docker daemon.
    type: str
    choices: [pushed, pulled, verified, signed]
    default: pushed
  digest:
    description:
      - The digest O(name) must have, C(sha256:) and 64 lowercase hexadecimal digits. Only used with O(state=verified).
      - When O(name) also carries a digest, both must be the same.
    type: str
  verify:
    description:
      - What O(state=verified) checks besides the manifest digests of RV(digests), and with V(signature) what
        O(state=pulled) checks before it pulls.
      - V(manifest) checks the manifest digests only.
      - V(signature) also checks that the digest has a valid cosign signature by one of O(public_keys) in the
        registry (the tag C(sha256-<hex>.sig) of its repository, as C(cosign sign) and C(skopeo
        --sign-by-sigstore-private-key) store it), and fails otherwise, naming the digest, the keys and what is
        wrong, no signature, a signature by another key, or a signature of another digest. With O(state=pulled) the
        check comes before the pull, so that an image that fails it never reaches the host.
      - V(blobs) also fetches every blob the manifest references and re-hashes it while it streams, in constant
        memory, checking its size too. For a manifest list or OCI index that is every platform's manifest (each
        checked against the digest and size the index gives), config and layers, or only those of O(platform).
        Several blobs are fetched at once, each over a connection of its own. A blob whose bytes do not hash to
        its digest fails the task with a message that names the repository, the digest expected and the digest
        found. RV(blobs) says what was checked. Blob downloads go over the same connection settings (O(insecure)) as
        the manifest requests.
    type: str
    choices: [manifest, blobs, signature]
    default: manifest
  public_keys:
    description:
      - The cosign public keys (C(cosign.pub), PEM) a signature may be by, for O(verify=signature). Each item is the
        key's text or the path of a file on the host that runs the module.
      - Messages and RV(signature) name a key by its place in this list and a fingerprint (the first 16 hexadecimal
        digits of the sha256 of its DER encoding).
    type: list
    elements: str
  platform:
    description:
      - With O(verify=blobs), check only the image for this platform, C(os/architecture[/variant]) as
        C(docker pull --platform) takes it, for example V(linux/amd64) or V(linux/arm64/v8). Without a variant,
        every variant of that os and architecture is checked.
      - For a manifest list or OCI index, the task fails when the index has no manifest for the platform, naming
        the platforms it has. For a single image, the platform its config declares must match.
      - Without O(platform), every platform of an index is checked.
    type: str
  pull:
    description:
      - With O(state=verified), also pull the image by digest and compare the digest the Docker daemon records in
        its C(RepoDigests). The daemon checks the manifest it downloads against that digest.
      - A host that has the image already is left as it is. On a host that lacks it, the pull is a change and the
        task reports C(changed=true).
      - Without the daemon (O(state=verified) with O(pull=false) and no Docker SDK), a registry O(insecure) does not
        name is taken as secure.
    type: bool
    default: true
seealso:
  - name: Distribution registry API
    description: The HTTP API the module reads manifests through.
    link: https://distribution.github.io/distribution/spec/api/
  - module: community.docker.docker_image_push
  - module: community.docker.docker_image_pull
"""

EXAMPLES = r"""
- name: Push the application image to the registry
  dockyard.registry.registry_image:
    name: "{{ registry_address }}/team/app:1.0"
    source: app:build
  register: _registry_image_push

- name: Pull it on another host, by the digest the push returned
  dockyard.registry.registry_image:
    name: "{{ registry_address }}/team/app@{{ _registry_image_push.digest }}"
    state: pulled

- name: Check that registry, manifest bytes and daemon agree on the digest
  dockyard.registry.registry_image:
    name: "{{ registry_address }}/team/app:1.0"
    state: verified
    digest: "{{ _registry_image_push.digest }}"

- name: Re-hash every blob of the arm64 image of a multi-platform tag, without pulling it
  dockyard.registry.registry_image:
    name: "{{ registry_address }}/team/app:1.0"
    state: verified
    verify: blobs
    platform: linux/arm64
    pull: false
  register: _registry_image_blobs

- name: Push and sign the image with the pipeline's cosign key, kept on the controller
  dockyard.registry.registry_image:
    name: "{{ registry_address }}/team/app:1.0"
    source: app:build
    sign:
      key: "{{ lookup('ansible.builtin.file', 'keys/cosign.key') }}"
      password: "{{ vault_cosign_password }}"

- name: Pull the image only when it carries a signature by the pipeline's key
  dockyard.registry.registry_image:
    name: "{{ registry_address }}/team/app@{{ _registry_image_push.digest }}"
    state: pulled
    verify: signature
    public_keys:
      - "{{ lookup('ansible.builtin.file', 'keys/cosign.pub') }}"

- name: Check the registry only, trusting a CA the daemon does not know
  dockyard.registry.registry_image:
    name: registry.example.com:5000/team/app:1.0
    state: verified
    pull: false
    ca_path: /etc/pki/registry/ca.crt
"""

RETURN = r"""
name:
  description: O(name), normalised (with V(latest) when it named neither tag nor digest).
  returned: always
  type: str
  sample: registry.example.com:5000/team/app:1.0
repository:
  description: The repository inside the registry.
  returned: always
  type: str
  sample: team/app
tag:
  description: The tag O(name) names, if any.
  returned: when O(name) has a tag
  type: str
  sample: "1.0"
digest:
  description:
    - The manifest digest of the image in the registry.
    - For O(state=pushed), what the push reported (or the registry's, when there was nothing to push).
    - For O(state=pulled), the C(RepoDigests) entry the daemon recorded for the repository.
    - For O(state=verified), the digest every source agreed on.
  returned: success, except in check mode when a push or a pull would happen
  type: str
  sample: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
image_id:
  description: The local image's ID on the Docker daemon.
  returned: when known (the pushed source; the pulled image; the verified image when O(pull=true))
  type: str
  sample: sha256:8c9fe45197ebc5f4a3d0e6c6a0a0b0a4d8dc12d2e3f8ca8e6a4f6f0b4b1d2e3f
digests:
  description: Every digest O(state=verified) read, by source. The module fails unless all are equal.
  returned: with O(state=verified), also when the digests disagree
  type: dict
  contains:
    expected:
      description: O(digest), or the digest in O(name).
      returned: when O(digest) is set or O(name) has a digest
      type: str
    head:
      description: The C(Docker-Content-Digest) header of a C(HEAD) request for the manifest.
      returned: when the registry answered the C(HEAD)
      type: str
    manifest:
      description:
        - The sha256 of the exact bytes a C(GET) of the manifest returned.
        - Named C(get) in release 0.1.0, a key that Jinja cannot reach with dot notation.
      returned: when the C(HEAD) succeeded
      type: str
    repo_digest:
      description: The daemon's C(RepoDigests) entry for the repository after pulling by digest.
      returned: when O(pull=true), except in check mode on a host that lacks the image
      type: str
  sample:
    expected: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
    head: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
    manifest: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
    repo_digest: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
signature:
  description:
    - With O(sign), the signature of RV(digest) by the key; with O(verify=signature), the signature that was accepted.
  returned: with O(sign) (except in check mode when a push would happen) and with O(verify=signature)
  type: dict
  contains:
    tag:
      description: The tag the signatures of RV(digest) are stored under in the repository.
      type: str
    key_id:
      description: The fingerprint of the key (the first 16 hexadecimal digits of the sha256 of its public DER).
      type: str
    key:
      description: With O(verify=signature), which of O(public_keys) the signature is by.
      type: str
      returned: with O(verify=signature)
    added:
      description: With O(sign), whether the module added a signature (V(false) where one by the key was there).
      type: bool
      returned: with O(sign)
  sample:
    tag: sha256-3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7.sig
    key_id: sha256:5c2b0e8d4a7f9e31
    added: true
blobs:
  description:
    - What O(verify=blobs) fetched and re-hashed. Each distinct blob is fetched once, even when several platforms
      share it.
  returned: with O(state=verified) and O(verify=blobs), when every blob matched
  type: dict
  contains:
    manifests:
      description: Image manifests walked (one per platform checked).
      type: int
    platforms:
      description: The platforms of those manifests, as the manifest list names them (empty for a single image).
      type: list
      elements: str
    blobs:
      description: Distinct blobs fetched and re-hashed (configs and layers).
      type: int
    configs:
      description: How many of them are image configs.
      type: int
    layers:
      description: How many of them are layers.
      type: int
    bytes:
      description: Their total size, every byte of which was hashed.
      type: int
    seconds:
      description: Wall-clock time the blobs took to fetch and re-hash.
      type: float
  sample:
    manifests: 2
    platforms: [linux/amd64, linux/arm64]
    blobs: 6
    configs: 2
    layers: 4
    bytes: 419432846
    seconds: 0.71
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import require_sdk
from ansible_collections.dockyard.registry.plugins.module_utils._image import (
    TASK_ERRORS,
    RegistryImage,
    image_argument_spec,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.options import connection_requirements


def argument_spec() -> dict:
    return image_argument_spec(
        name={"type": "str", "required": True},
        source={"type": "str"},
        state={"type": "str", "default": "pushed", "choices": ["pushed", "pulled", "verified", "signed"]},
        digest={"type": "str"},
        verify={"type": "str", "default": "manifest", "choices": ["manifest", "blobs", "signature"]},
        platform={"type": "str"},
        pull={"type": "bool", "default": True},
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **connection_requirements())
    task = None
    try:
        task = RegistryImage(module.params, module.check_mode)
        if task.needs_daemon():
            require_sdk(module)
        result = task.run()
    except TASK_ERRORS as exc:
        module.fail_json(msg=str(exc), **(task.result if task else {}))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
