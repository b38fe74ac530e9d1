# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_image
short_description: Push, pull and verify images in a private registry by digest
version_added: 0.1.0
description:
  - Pushes a local image to a registry, pulls one from it, or checks that the registry, the manifest bytes it
    serves and the Docker daemon all agree on an image's digest.
  - Talks to the Docker daemon through the Docker SDK for pushing and pulling, and to the registry's HTTP API
    directly to read manifests and their digests.
  - Trusts for the registry what the Docker daemon on the same host trusts, that is the system roots and every
    C(*.crt) in C(/etc/docker/certs.d/<host:port>/), with the C(*.cert)/C(*.key) pair there as client certificate,
    unless O(ca_path) is given. C(REQUESTS_CA_BUNDLE) and proxy variables are ignored, as the daemon ignores them.
  - The registry API calls send no credentials yet, so the registry must allow anonymous reads of manifests.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - Docker SDK for Python (C(docker)) 5.0 or newer, for O(state=pushed), O(state=pulled) and O(state=verified) with O(pull=true).
  - C(requests)
  - Docker API 1.25 or newer on the daemon.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - With O(state=pushed) and O(state=pulled) the module asks the registry and the daemon, then predicts
        C(changed) without tagging, pushing or pulling.
      - With O(state=verified) and O(pull=true), an image the host does not have yet is not pulled, and
        RV(digests.repo_digest) is missing from the result.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
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
        that tag.
      - V(pulled) pulls O(name) (by tag or by digest), unless the host already has the image the registry serves
        for it.
      - V(verified) reads the digest of O(name) in every way there is (see RV(digests)) and fails unless all agree.
    type: str
    choices: [pushed, pulled, verified]
    default: pushed
  digest:
    description:
      - The digest O(name) must have, C(sha256:) and 64 lowercase hexadecimal digits. Only used with O(state=verified).
      - When O(name) also carries a digest, both must be the same.
    type: str
  verify:
    description:
      - What O(state=verified) checks besides the manifest digests of RV(digests).
      - V(manifest) checks the manifest digests only.
      - V(blobs) also fetches every blob the manifest references and re-hashes it while it streams, in constant
        memory, checking its size too. For a manifest list or OCI index that is every platform's manifest (each
        checked against the digest and size the index gives), config and layers, or only those of O(platform).
        Several blobs are fetched at once, each over a connection of its own. A blob whose bytes do not hash to
        its digest fails the task with a message that names the repository, the digest expected and the digest
        found. RV(blobs) says what was checked.
    type: str
    choices: [manifest, blobs]
    default: manifest
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
    type: bool
    default: true
  insecure:
    description:
      - Treat the registry as the Docker daemon treats one listed in its C(insecure-registries), with HTTPS that does
        not verify the certificate, and plain HTTP where the registry does not speak TLS.
      - Not given, the module asks the Docker daemon on this host whether it lists the registry as insecure, by
        name or by an address in its insecure CIDRs, and does the same. Without the daemon (O(state=verified) with
        O(pull=false) and no Docker SDK) the registry is taken as secure.
      - With O(verify=blobs) over HTTPS, blob downloads still verify the certificate.
    type: bool
  docker_host:
    description:
      - The Docker daemon's API address, as C(DOCKER_HOST) takes it.
      - If not given, the value of the E(DOCKER_HOST) environment variable is used, and without it
        V(unix:///var/run/docker.sock).
    type: str
    default: unix:///var/run/docker.sock
  ca_path:
    description:
      - A PEM file with the CA certificates to trust for the registry, in place of the system roots and the
        C(*.crt) files in C(/etc/docker/certs.d/<host:port>/).
      - The Docker daemon does not read it. It only changes what this module's own registry API calls trust.
    type: path
  timeout:
    description:
      - Seconds to wait for an answer from the registry, and from the Docker daemon.
    type: int
    default: 60
  username:
    description:
      - Account to use with the registry, for the module's own registry API calls and the daemon's push and pull.
      - Not given, the module uses what C(docker login) stored for the registry's C(host:port) in the Docker client
        configuration of the user it runs as (C(~/.docker/config.json) or the credential helper it names), as the
        Docker CLI would; without one it asks anonymously.
      - Credentials go out as HTTP Basic auth over HTTPS only. A registry reached over plain HTTP (an insecure one
        that does not speak TLS) with credentials fails the task rather than send the password in clear.
    type: str
  password:
    description:
      - Password of O(username). Required with it.
    type: str
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
    get:
      description: The sha256 of the exact bytes a C(GET) of the manifest returned.
      returned: when the C(HEAD) succeeded
      type: str
    repo_digest:
      description: The daemon's C(RepoDigests) entry for the repository after pulling by digest.
      returned: when O(pull=true), except in check mode on a host that lacks the image
      type: str
  sample:
    expected: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
    head: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
    get: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
    repo_digest: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
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

import contextlib
import ipaddress
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._blobs import (
    BlobFetchError,
    BlobMismatchError,
    BlobVerifier,
    ManifestFormatError,
    PlatformError,
    parse_platform,
    plan_image,
)
from ansible_collections.dockyard.registry.plugins.module_utils._digest import (
    DigestError,
    DigestMismatchError,
    agreed_digest,
    digest_of,
    parse_digest,
)
from ansible_collections.dockyard.registry.plugins.module_utils._reference import (
    ImageReference,
    ReferenceFormatError,
    parse_reference,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry_client import (
    Credentials,
    ManifestUnknownError,
    RegistryClient,
    RegistryError,
    daemon_client,
    docker,
    registry_common_argument_spec,
    registry_connection_requirements,
    registry_credentials,
    requests,
    require_libraries,
)

# How the sources of a digest are named in a mismatch message.
DIGEST_SOURCES = {
    "expected": "the expected digest",
    "head": "the registry's Docker-Content-Digest for HEAD",
    "get": "the sha256 of the manifest bytes from GET",
    "repo_digest": "the daemon's RepoDigests entry after pulling by digest",
}


class ImageTaskError(Exception):
    """The task cannot do what its options ask; the message names the option or the image."""


class DaemonError(ImageTaskError):
    """The Docker daemon refused or failed; the message keeps the daemon's own words."""


class Daemon:
    """The Docker daemon, through the Docker SDK, with its errors turned into :class:`DaemonError`."""

    def __init__(self, docker_host: str, timeout: int, credentials: Credentials | None = None) -> None:
        self.host = docker_host
        # The SDK would find a stored login itself; given ones must be handed over with each push and pull.
        self.auth_config = ({"username": credentials.username, "password": credentials.password}
                            if credentials else None)
        with self._errors("answer"):
            self.api = daemon_client(docker_host, timeout)

    def inspect(self, image: str) -> dict | None:
        """The daemon's inspection of ``image`` (name, reference, ``name@digest`` or ID), or None if it lacks it."""
        with self._errors(f"inspect image {image}"):
            try:
                return self.api.inspect_image(image)
            except docker.errors.NotFound:
                return None

    def treats_as_insecure(self, registry: str) -> bool:
        """Whether the daemon lists ``registry`` (host:port) as insecure: by name, or by an address in its CIDRs."""
        with self._errors("describe its registry configuration"):
            config = self.api.info().get("RegistryConfig") or {}
        index = (config.get("IndexConfigs") or {}).get(registry)
        if index is not None:
            return not index.get("Secure", True)
        host = registry.rsplit(":", 1)[0].strip("[]")
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except socket.gaierror:
            return False
        networks = [ipaddress.ip_network(cidr) for cidr in config.get("InsecureRegistryCIDRs") or []]
        return any(ipaddress.ip_address(address) in network for address in addresses for network in networks
                   if ipaddress.ip_address(address).version == network.version)

    def tag(self, image_id: str, reference: ImageReference) -> None:
        with self._errors(f"tag image {image_id} as {reference.tagged}"):
            self.api.tag(image_id, reference.name, reference.tag)

    def push(self, reference: ImageReference) -> str:
        """Push ``reference`` (a tag) and return the digest the daemon reports for the pushed manifest."""
        action = f"push {reference.tagged} to registry {reference.registry}"
        with self._errors(action):
            progress = self.api.push(reference.name, tag=reference.tag, stream=True, decode=True,
                                     auth_config=self.auth_config)
            digests = [line["aux"]["Digest"] for line in self._follow(progress, action)
                       if "Digest" in (line.get("aux") or {})]
        if not digests:
            raise DaemonError(f"the Docker daemon at {self.host} pushed {reference.tagged} but reported no digest")
        return parse_digest(digests[-1])

    def pull(self, reference: ImageReference) -> None:
        """Pull ``reference``: by digest when it has one (the daemon then checks the manifest against it)."""
        action = f"pull {reference} from registry {reference.registry}"
        with self._errors(action):
            progress = self.api.pull(reference.name, tag=reference.manifest_reference, stream=True, decode=True,
                                     auth_config=self.auth_config)
            for _line in self._follow(progress, action):
                pass

    def _follow(self, progress, action: str):
        """Yield the daemon's progress messages; its error message, if one comes, becomes a DaemonError."""
        for line in progress:
            if "error" in line:
                raise DaemonError(f"the Docker daemon at {self.host} could not {action}: {line['error']}")
            yield line

    @contextlib.contextmanager
    def _errors(self, action: str):
        """Turn Docker SDK and transport errors into a DaemonError that says what the daemon could not do."""
        try:
            yield
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise DaemonError(f"the Docker daemon at {self.host} could not {action}: {exc}") from exc


def repo_digests(image: dict | None, reference: ImageReference) -> list[str]:
    """The digests the daemon recorded for ``image`` in ``reference``'s repository (``RepoDigests``)."""
    prefix = f"{reference.name}@"
    entries = (image or {}).get("RepoDigests") or []
    return [entry[len(prefix):] for entry in entries if entry.startswith(prefix)]


class RegistryImage:
    """One task: push, pull or verify the image ``name`` names. :meth:`run` returns the module's result."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.reference = self._parse_name()
        self.result = {
            "changed": False,
            "name": str(self.reference),
            "repository": self.reference.repository,
        }
        if self.reference.tag:
            self.result["tag"] = self.reference.tag
        self.registry = None  # the RegistryClient, while run() runs
        self.platform = None  # the parsed platform option

    def _parse_name(self) -> ImageReference:
        try:
            return parse_reference(self.params["name"])
        except ReferenceFormatError as exc:
            raise ImageTaskError(f"name: {exc}") from None

    def run(self) -> dict:
        state = self.params["state"]
        if self.params["digest"] and state != "verified":
            raise ImageTaskError(f"digest is only used with state=verified, not with state={state}")
        if self.params["platform"] and (state, self.params["verify"]) != ("verified", "blobs"):
            raise ImageTaskError("platform is only used with state=verified and verify=blobs")
        self.platform = parse_platform(self.params["platform"]) if self.params["platform"] else None
        action = {"pushed": self.push, "pulled": self.pull, "verified": self.verify}[state]
        credentials = registry_credentials(self.reference.registry, self.params["username"], self.params["password"])
        with RegistryClient(self.reference.registry, ca_path=self.params["ca_path"], timeout=self.params["timeout"],
                            insecure=self._insecure(), credentials=credentials) as registry:
            self.registry = registry
            action()
        return self.result

    def _insecure(self) -> bool:
        """Whether to treat the registry as insecure: as told, or as the Docker daemon on this host treats it."""
        if self.params["insecure"] is not None:
            return self.params["insecure"]
        if docker is None:  # state=verified with pull=false needs no daemon, and asks none
            return False
        return self._daemon().treats_as_insecure(self.reference.registry)

    def _daemon(self) -> Daemon:
        return Daemon(self.params["docker_host"], self.params["timeout"],
                      self.registry.credentials if self.registry else None)

    def _registry_digest(self) -> str | None:
        """What the registry serves for ``name`` now, or None when it has nothing under that tag."""
        try:
            return self.registry.head_manifest(self.reference)
        except ManifestUnknownError:
            return None

    # state=pushed

    def push(self) -> None:
        """Tag ``source`` as ``name`` and push it, unless the registry already serves that very image there."""
        reference = self.reference
        if reference.digest:
            raise ImageTaskError(f"name: state=pushed needs a tag, but {self.params['name']!r} names a digest")
        daemon = self._daemon()
        source = self._source_image(daemon)
        self.result["image_id"] = source["Id"]
        served = self._registry_digest()
        if self._already_pushed(source, served):
            self.result["digest"] = served
            return
        self.result["changed"] = True
        if self.module.check_mode:
            return
        daemon.tag(source["Id"], reference)
        self.result["digest"] = daemon.push(reference)

    def _source_image(self, daemon: Daemon) -> dict:
        source = self.params["source"] or self.params["name"]
        image = daemon.inspect(source)
        if image is None:
            raise ImageTaskError(f"source: the Docker daemon at {daemon.host} has no image {source!r} to push; "
                                 "build or load it first, or correct source")
        return image

    def _already_pushed(self, source: dict, served: str | None) -> bool:
        """The registry serves, under the tag, a manifest that this very image was pushed (or pulled) as.

        The local tag is only the means of a push: a host that has since dropped it has nothing to push.
        """
        return served is not None and served in repo_digests(source, self.reference)

    # state=pulled

    def pull(self) -> None:
        """Pull ``name`` unless the host has the image the registry serves for it (under the tag, for a tag)."""
        reference = self.reference
        wanted = reference.digest or self.registry.head_manifest(reference)
        daemon = self._daemon()
        if not self._already_pulled(daemon, wanted):
            self.result["changed"] = True
            if self.module.check_mode:
                return
            daemon.pull(reference)
        image = self._image_recorded_as(daemon, wanted)
        self.result.update(digest=wanted, image_id=image["Id"])

    def _already_pulled(self, daemon: Daemon, wanted: str) -> bool:
        """The host has the image recorded with digest ``wanted`` and, when ``name`` is a tag, the tag is that image."""
        image = daemon.inspect(str(self.reference.by_digest(wanted)))
        if image is None:
            return False
        if self.reference.digest:
            return True
        tagged = daemon.inspect(self.reference.tagged)
        return tagged is not None and tagged["Id"] == image["Id"]

    # state=verified

    def verify(self) -> None:
        """Read the digest from each source, failing at the first disagreement; changes only by pulling."""
        digests = self.result["digests"] = {}
        expected = self._expected_digest()
        if expected:
            digests["expected"] = expected
        digests["head"] = self.registry.head_manifest(self.reference)
        manifest = self.registry.get_manifest(self.reference)
        digests["get"] = digest_of(manifest.content)
        agreed = self._agree(digests)  # before pulling: a mismatch here needs no download to report
        if self.params["verify"] == "blobs":
            self._verify_blobs(agreed, manifest)
        if self.params["pull"]:
            self._verify_pull(agreed)
        self.result["digest"] = self._agree(digests)

    def _verify_blobs(self, digest: str, manifest) -> None:
        """Re-hash every blob that the manifest (and, for an index, each selected platform's manifest) names."""
        plan = plan_image(manifest.content, digest, manifest.media_type, self._child_manifest, self.platform)
        verifier = BlobVerifier(self.reference.registry, self.reference.repository, self.registry.trust,
                                self.params["timeout"], scheme=self.registry.scheme,
                                authorization=self.registry.authorization)
        self.result["blobs"] = verifier.verify(plan)

    def _child_manifest(self, child) -> tuple[bytes, str | None]:
        """A manifest an index lists, fetched by digest; its bytes must hash to that digest and be as many."""
        manifest = self.registry.get_manifest(self.reference.by_digest(child.digest))
        found = digest_of(manifest.content)
        if found != child.digest or len(manifest.content) != child.size:
            raise DigestMismatchError(
                f"manifest mismatch in repository {self.reference.repository}: expected {child.digest} "
                f"({child.size} bytes; {child.where}), found {found} ({len(manifest.content)} bytes)")
        return manifest.content, manifest.media_type

    def _expected_digest(self) -> str | None:
        option, in_name = self.params["digest"], self.reference.digest
        if option:
            try:
                option = parse_digest(option)
            except DigestError as exc:
                raise ImageTaskError(f"digest: {exc}") from None
        if option and in_name and option != in_name:
            raise ImageTaskError(f"digest mismatch: the digest option is {option}, but name has {in_name}")
        return option or in_name

    @staticmethod
    def _agree(digests: dict) -> str:
        return agreed_digest({f"{key} ({DIGEST_SOURCES[key]})": value for key, value in digests.items()})

    def _verify_pull(self, digest: str) -> None:
        """Have the daemon fetch the image by ``digest`` (it checks the manifest) and read back its RepoDigests.

        A host that already has the image needs no pull; one that lacks it gets it, which is a change.
        """
        by_digest = self.reference.by_digest(digest)
        daemon = self._daemon()
        if daemon.inspect(str(by_digest)) is None:
            self.result["changed"] = True
            if self.module.check_mode:
                return
            daemon.pull(by_digest)
        image = self._image_recorded_as(daemon, digest)
        self.result["digests"]["repo_digest"] = digest
        self.result["image_id"] = image["Id"]

    def _image_recorded_as(self, daemon: Daemon, digest: str) -> dict:
        """The local image the daemon records under ``name``'s repository with ``digest``, or a DaemonError."""
        image = daemon.inspect(str(self.reference.by_digest(digest)))
        recorded = repo_digests(image, self.reference)
        if digest not in recorded:
            raise DaemonError(f"the Docker daemon at {daemon.host} does not list {digest} among the RepoDigests of "
                              f"{self.reference.name} ({', '.join(recorded) or 'none'})")
        return image


def argument_spec() -> dict:
    spec = registry_common_argument_spec()
    spec.update(
        name={"type": "str", "required": True},
        source={"type": "str"},
        state={"type": "str", "default": "pushed", "choices": ["pushed", "pulled", "verified"]},
        digest={"type": "str"},
        verify={"type": "str", "default": "manifest", "choices": ["manifest", "blobs"]},
        platform={"type": "str"},
        pull={"type": "bool", "default": True},
        insecure={"type": "bool"},
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           **registry_connection_requirements())
    params = module.params
    require_libraries(module, need_docker=params["state"] != "verified" or params["pull"])
    task = None
    try:
        task = RegistryImage(module)
        result = task.run()
    except (ImageTaskError, RegistryError, DigestMismatchError, BlobMismatchError, BlobFetchError, PlatformError,
            ManifestFormatError) as exc:
        module.fail_json(msg=str(exc), **(task.result if task else {}))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
