# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the registry_image module's work, push, pull and verify by digest.

:class:`RegistryImage` takes the module's parameters and check mode, and returns its result. The registry is
asked through ``_registry`` (what the daemon on the host trusts), the daemon through ``_docker_client`` and ``_docker_images``.
"""

from __future__ import annotations

import re

from ansible_collections.dockyard.registry.plugins.module_utils._digest import (
    DigestError,
    DigestMismatchError,
    agreed_digest,
    digest_of,
    parse_digest,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DaemonError,
    api_client,
    docker,
    docker_argument_spec,
    insecure_registry,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_images import DockerImages
from ansible_collections.dockyard.registry.plugins.module_utils._names import address_host
from ansible_collections.dockyard.registry.plugins.module_utils._reference import (
    ImageReference,
    ReferenceFormatError,
    parse_reference,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import registry_credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.blobs import (
    BlobVerifier,
    parse_platform,
    plan_image,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import (
    ManifestUnknownError,
    RegistryError,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.options import connection_argument_spec
from ansible_collections.dockyard.registry.plugins.module_utils._registry.signatures import (
    ImageSignatures,
    PublicKey,
    key_id,
    load_private_key,
    load_public_key,
    signature_tag,
)

# How the Docker daemon reports a registry's answer it has no words for: "received unexpected HTTP status: 500 …".
SERVER_ERROR = re.compile(r"unexpected HTTP status: 5\d\d\b")

# How the sources of a digest are named in a mismatch message.
DIGEST_SOURCES = {
    "expected": "the expected digest",
    "head": "the registry's Docker-Content-Digest for HEAD",
    "manifest": "the sha256 of the manifest bytes from GET",
    "repo_digest": "the daemon's RepoDigests entry after pulling by digest",
}


def image_argument_spec(**options) -> dict:
    """The argument spec of a module that pushes images with :class:`RegistryImage` (registry_image, registry_smoke):
    the registry's connection, the Docker daemon, O(insecure), O(insecure_send_credentials), signing (all described in
    the doc fragment dockyard.registry._registry), and the module's own ``options``."""
    spec = connection_argument_spec()
    spec.update(docker_argument_spec())
    spec.update(options)
    spec.update(
        insecure={"type": "bool"},
        insecure_send_credentials={"type": "bool", "default": False},
    )
    spec.update(signature_argument_spec())
    return spec


def signature_argument_spec() -> dict:
    """The options of signing (sign) and of checking signatures (public_keys), shared by the modules that push."""
    return {
        "public_keys": {"type": "list", "elements": "str"},
        "sign": {
            "type": "dict",
            "options": {
                "key": {"type": "str", "no_log": True},
                "key_path": {"type": "path"},
                "password": {"type": "str", "required": True, "no_log": True},
            },
            "mutually_exclusive": [("key", "key_path")],
            "required_one_of": [("key", "key_path")],
        },
    }


class ImageTaskError(Exception):
    """The task cannot do what its options ask; the message names the option or the image."""


def repo_digests(image: dict | None, reference: ImageReference) -> list[str]:
    """The digests the daemon recorded for ``image`` in ``reference``'s repository (``RepoDigests``)."""
    prefix = f"{reference.name}@"
    entries = (image or {}).get("RepoDigests") or []
    return [entry[len(prefix):] for entry in entries if entry.startswith(prefix)]


# What a module that runs RegistryImage turns into its failure, with the exception's message.
TASK_ERRORS = (ImageTaskError, RegistryError, DaemonError, DigestMismatchError)


class RegistryImage:
    """One task: push, pull or verify the image ``name`` names. :meth:`run` returns the module's result."""

    def __init__(self, params: dict, check_mode: bool) -> None:
        self.params, self.check_mode = params, check_mode
        self.reference = self._parse_name()
        self.result = {"changed": False, "name": str(self.reference), "repository": self.reference.repository}
        if self.reference.tag:
            self.result["tag"] = self.reference.tag
        self.registry = None  # the RegistryClient, while run() runs
        self.daemon = None  # the DockerImages, while run() runs, where the task needs the daemon
        self.platform = None  # the parsed platform option
        self.public_keys = []  # the parsed public_keys option

    def _parse_name(self) -> ImageReference:
        try:
            return parse_reference(self.params["name"])
        except ReferenceFormatError as exc:
            raise ImageTaskError(f"name: {exc}") from None

    def needs_daemon(self) -> bool:
        if self.params["state"] == "signed":
            return False
        return self.params["state"] != "verified" or self.params["pull"]

    def run(self) -> dict:
        state = self.params["state"]
        self._check_options(state)
        self.platform = parse_platform(self.params["platform"]) if self.params["platform"] else None
        self.public_keys = self._public_keys()
        action = {"pushed": self.push, "pulled": self.pull, "verified": self.verify, "signed": self.sign}[state]
        if self.needs_daemon() or (docker is not None and self.params["insecure"] is None):
            with api_client(self.params["docker_host"], self.params["timeout"]) as api:
                self.daemon = DockerImages(api, self.params["docker_host"], self._auth_config())
                return self._run(action)
        return self._run(action)

    def _check_options(self, state: str) -> None:
        """Options that do not go together, named before anything is asked or changed."""
        verify = self.params["verify"]
        if self.params["digest"] and state != "verified":
            raise ImageTaskError(f"digest is only used with state=verified, not with state={state}")
        if self.params["platform"] and (state, verify) != ("verified", "blobs"):
            raise ImageTaskError("platform is only used with state=verified and verify=blobs")
        if self.params["sign"] and state not in ("pushed", "signed"):
            raise ImageTaskError(f"sign is only used with state=pushed and state=signed, not with state={state}")
        if state == "signed" and not self.params["sign"]:
            raise ImageTaskError("state=signed needs sign (the cosign private key and its password)")
        if verify == "signature" and state not in ("verified", "pulled"):
            raise ImageTaskError(f"verify=signature is only used with state=verified and state=pulled, not with "
                                 f"state={state}")
        if verify == "signature" and not self.params["public_keys"]:
            raise ImageTaskError("verify=signature needs public_keys (the cosign public keys a signature may be by)")
        if self.params["public_keys"] and verify != "signature":
            raise ImageTaskError(f"public_keys is only used with verify=signature, not with verify={verify}")

    def _public_keys(self) -> list[PublicKey]:
        """public_keys: each a PEM public key, given as its text or as the path of a file on the host. A key's
        name in messages carries its fingerprint, to tell keys apart whatever file they came from."""
        keys = []
        for number, entry in enumerate(self.params["public_keys"] or [], start=1):
            label = f"public_keys[{number}]"
            if "-----BEGIN" in entry:
                pem = entry.encode()
            else:
                label = f"{label} ({entry})"
                try:
                    with open(entry, "rb") as handle:
                        pem = handle.read()
                except OSError as exc:
                    raise ImageTaskError(f"{label}: cannot read the file: {exc.strerror}") from None
            key = load_public_key(pem, label).key
            keys.append(PublicKey(f"{label} key {key_id(key)}", key))
        return keys

    def _private_key(self):
        sign = self.params["sign"]
        if sign["key"]:
            return load_private_key(sign["key"].encode(), sign["password"], "sign.key")
        try:
            with open(sign["key_path"], "rb") as handle:
                pem = handle.read()
        except OSError as exc:
            raise ImageTaskError(f"sign.key_path: cannot read {sign['key_path']}: {exc.strerror}") from None
        return load_private_key(pem, sign["password"], f"sign.key_path ({sign['key_path']})")

    def _run(self, action) -> dict:
        credentials = registry_credentials(self.reference.registry, self.params["username"], self.params["password"])
        with RegistryClient(self.reference.registry, ca_path=self.params["ca_path"], timeout=self.params["timeout"],
                            insecure=self._insecure(), credentials=credentials,
                            credentials_unverified=self.params["insecure_send_credentials"]) as registry:
            self.registry = registry
            action()
        return self.result

    def _auth_config(self) -> dict | None:
        # The SDK finds a stored login itself; given credentials go with each push and pull.
        if self.params["username"] is not None and self.params["password"] is not None:
            return {"username": self.params["username"], "password": self.params["password"]}
        return None

    def _insecure(self) -> bool:
        """Whether to treat the registry as insecure: as told, or as the Docker daemon on this host treats it."""
        if self.params["insecure"] is not None:
            return self.params["insecure"]
        if self.daemon is None:  # state=verified with pull=false and no Docker SDK: nobody to ask
            return False
        return insecure_registry(self.daemon.info(), self.reference.registry, address_host(self.reference.registry))

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
        source = self._source_image()
        self.result["image_id"] = source["Id"]
        served = self._registry_digest()
        # The local tag is only the means of a push: a host that has since dropped it has nothing to push.
        if served is not None and served in repo_digests(source, reference):
            self.result["digest"] = served
            self._sign_digest(served)
            return
        self.result["changed"] = True
        if self.check_mode:
            return
        self.daemon.tag(source["Id"], reference.name, reference.tag)
        action = f"push {reference.tagged} to registry {reference.registry}"
        try:
            progress = self.daemon.push(reference.name, reference.tag, action)
        except DaemonError as exc:
            raise DaemonError(f"{exc}{self._registry_failure(exc)}") from None
        digests = [line["aux"]["Digest"] for line in progress if "Digest" in (line.get("aux") or {})]
        if not digests:
            raise ImageTaskError(f"the Docker daemon at {self.daemon.host} pushed {reference.tagged} but reported "
                                 "no digest")
        self.result["digest"] = parse_digest(digests[-1])
        self._sign_digest(self.result["digest"])

    # state=signed, and state=pushed with sign

    def sign(self) -> None:
        """Sign the image ``name`` names in the registry (by its tag's digest now, or the digest it gives)."""
        self.result["digest"] = self.reference.digest or self.registry.head_manifest(self.reference)
        self._sign_digest(self.result["digest"])

    def _sign_digest(self, digest: str) -> None:
        """Add a cosign signature of ``digest`` by sign.key, unless one by that key is in the registry already."""
        if not self.params["sign"]:
            return
        key = self._private_key()
        signatures = ImageSignatures(self.registry, self.reference.repository)
        added = signatures.add(digest, f"{self.reference.registry}/{self.reference.repository}", key, self.check_mode)
        self.result["signature"] = {"tag": signature_tag(digest), "key_id": key_id(key.public_key()), "added": added}
        self.result["changed"] = self.result["changed"] or added

    def _check_signature(self, digest: str) -> None:
        """With verify=signature: fail unless ``digest`` has a valid signature by one of public_keys."""
        if self.params["verify"] != "signature":
            return
        key = ImageSignatures(self.registry, self.reference.repository).check(digest, self.public_keys)
        self.result["signature"] = {"tag": signature_tag(digest), "key": key.name, "key_id": key_id(key.key)}

    def _registry_failure(self, error: DaemonError) -> str:
        """For a push the registry failed with a server error, which the daemon reports by its status alone: what
        the registry answers an upload of the module's own with (cancelled at once), in its own words."""
        if not SERVER_ERROR.search(str(error)):
            return ""
        problem = self.registry.upload_problem(self.reference.repository)
        return f". The registry answers a test upload with {problem}" if problem else ""

    def _source_image(self) -> dict:
        source = self.params["source"] or self.params["name"]
        image = self.daemon.inspect(source)
        if image is None:
            raise ImageTaskError(f"source: the Docker daemon at {self.daemon.host} has no image {source!r} to push; "
                                 "build or load it first, or correct source")
        return image

    # state=pulled

    def pull(self) -> None:
        """Pull ``name`` unless the host has the image the registry serves for it (under the tag, for a tag)."""
        reference = self.reference
        wanted = reference.digest or self.registry.head_manifest(reference)
        self._check_signature(wanted)  # before the host has a byte of it
        if not self._already_pulled(wanted):
            self.result["changed"] = True
            if self.check_mode:
                return
            self._pull(reference)
        image = self._image_recorded_as(wanted)
        self.result.update(digest=wanted, image_id=image["Id"])

    def _pull(self, reference: ImageReference) -> None:
        """Pull ``reference``: by digest when it has one (the daemon then checks the manifest against it)."""
        self.daemon.pull(reference.name, reference.manifest_reference,
                         f"pull {reference} from registry {reference.registry}")

    def _already_pulled(self, wanted: str) -> bool:
        """The host has the image recorded with digest ``wanted`` and, when ``name`` is a tag, the tag is that image."""
        image = self.daemon.inspect(str(self.reference.by_digest(wanted)))
        if image is None:
            return False
        if self.reference.digest:
            return True
        tagged = self.daemon.inspect(self.reference.tagged)
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
        digests["manifest"] = digest_of(manifest.content)
        agreed = self._agree(digests)  # before pulling: a mismatch here needs no download to report
        self._check_signature(agreed)
        if self.params["verify"] == "blobs":
            plan = plan_image(manifest.content, agreed, manifest.media_type, self._child_manifest, self.platform)
            self.result["blobs"] = BlobVerifier(self.registry, self.reference.repository).verify(plan)
        if self.params["pull"]:
            self._verify_pull(agreed)
        self.result["digest"] = self._agree(digests)

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
        if self.daemon.inspect(str(by_digest)) is None:
            self.result["changed"] = True
            if self.check_mode:
                return
            self._pull(by_digest)
        image = self._image_recorded_as(digest)
        self.result["digests"]["repo_digest"] = digest
        self.result["image_id"] = image["Id"]

    def _image_recorded_as(self, digest: str) -> dict:
        """The local image the daemon records under ``name``'s repository with ``digest``, or an ImageTaskError."""
        image = self.daemon.inspect(str(self.reference.by_digest(digest)))
        recorded = repo_digests(image, self.reference)
        if digest not in recorded:
            raise ImageTaskError(f"the Docker daemon at {self.daemon.host} does not list {digest} among the "
                                 f"RepoDigests of {self.reference.name} ({', '.join(recorded) or 'none'})")
        return image
