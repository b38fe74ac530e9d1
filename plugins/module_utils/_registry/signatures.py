# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: cosign signatures of images, written and checked in the registry.

The format is cosign's (what Podman's ``sigstoreSigned`` policy and ``cosign verify --key`` read): a "simple
signing" payload that names the image's manifest digest, signed with the key, stored as a layer of an OCI image
manifest under the tag ``sha256-<hex>.sig`` of the image's repository, the signature in the layer's annotation
``dev.cosignproject.cosign/signature``. Several signatures of one image are layers of that one manifest.

The private key is cosign's encrypted format (``cosign generate-key-pair``): a PKCS#8 key sealed with NaCl's
secretbox under a key scrypt derives from the password. ``cryptography`` signs and verifies; PyNaCl opens the box
(``cryptography`` has no XSalsa20-Poly1305).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
except ImportError:  # only signing and checking signatures need it: said when a key is loaded
    serialization = None

from ansible_collections.dockyard.registry.plugins.module_utils._digest import digest_of
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import RegistryError, error_detail
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import OCI_MANIFEST

try:
    import nacl.exceptions
    import nacl.secret
except ImportError:  # only signing needs it; checking signatures does not
    nacl = None

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
PAYLOAD_TYPE = "cosign container image signature"
PRIVATE_KEY_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
MAX_PAYLOAD_BYTES = 64 << 10  # a simple signing payload is a few hundred bytes
MAX_SIGNATURES = 64  # layers of one signature manifest that are read


class SignatureError(RegistryError):
    """An image lacks a valid signature, or a key cannot be used; the message names the digest and the key."""


@dataclasses.dataclass(frozen=True)
class PublicKey:
    """A public key and the name it goes by in messages (its file, or ``public key <n>`` for a given PEM)."""

    name: str
    key: object


@dataclasses.dataclass(frozen=True)
class Signature:
    """One signature layer: the payload's exact bytes and the base64 signature over them."""

    payload: bytes
    signature: str


def signature_tag(digest: str) -> str:
    """The tag cosign stores ``digest``'s signatures under: ``sha256-<hex>.sig``."""
    algorithm, hexadecimal = digest.split(":", 1)
    return f"{algorithm}-{hexadecimal}.sig"


def _pem_body(pem: bytes, types: tuple[str, ...], what: str) -> bytes:
    text = pem.decode("ascii", "replace")
    for kind in types:
        begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
        if begin in text and end in text:
            body = text.split(begin, 1)[1].split(end, 1)[0]
            try:
                return base64.b64decode("".join(body.split()), validate=True)
            except ValueError:
                break
    raise SignatureError(f"{what} is not a cosign private key (PEM {' or '.join(types)}, as `cosign "
                         "generate-key-pair` writes it)")


def _require_cryptography() -> None:
    if serialization is None:
        raise SignatureError("signing and checking signatures need the Python library cryptography on the host "
                             "(Debian and Ubuntu: the python3-cryptography package; pip: cryptography)")


def load_private_key(pem: bytes, password: str, what: str = "sign.key"):
    """The private key of cosign's encrypted key file ``pem``, opened with ``password``."""
    _require_cryptography()
    if nacl is None:
        raise SignatureError("signing needs the Python library PyNaCl on the host that signs, to open the cosign "
                             "key (Debian and Ubuntu: the python3-nacl package; pip: PyNaCl)")
    try:
        sealed = json.loads(_pem_body(pem, PRIVATE_KEY_TYPES, what))
        kdf, cipher = sealed["kdf"], sealed["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise SignatureError(f"{what} is sealed with {kdf['name']} and {cipher['name']}; cosign keys use scrypt "
                                 "and nacl/secretbox")
        params = kdf["params"]
        box_key = Scrypt(salt=base64.b64decode(kdf["salt"]), length=32, n=params["N"], r=params["r"],
                         p=params["p"]).derive(password.encode())
        plain = nacl.secret.SecretBox(box_key).decrypt(base64.b64decode(sealed["ciphertext"]),
                                                       base64.b64decode(cipher["nonce"]))
    except nacl.exceptions.CryptoError:
        raise SignatureError(f"sign.password does not open {what}: the password is wrong, or the key file was "
                             "changed") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"{what} is not a readable cosign private key ({exc.__class__.__name__}: {exc})") from None
    return serialization.load_der_private_key(plain, password=None)


def load_public_key(pem: bytes, name: str) -> PublicKey:
    """A PEM public key (``cosign.pub``) named ``name`` in messages."""
    _require_cryptography()
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SignatureError(f"{name} is not a PEM public key ({exc})") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise SignatureError(f"{name} is a {type(key).__name__}; cosign keys are ECDSA, RSA or Ed25519")
    return PublicKey(name, key)


def key_id(key) -> str:
    """A short fingerprint of a public key (sha256 of its DER), to tell keys apart in messages and results."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def payload(docker_reference: str, digest: str) -> bytes:
    """The simple signing payload for ``digest``, as cosign writes it."""
    return json.dumps({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": None,
    }, separators=(",", ":")).encode()


def sign(private_key, data: bytes) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        raw = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(private_key, rsa.RSAPrivateKey):
        raw = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.sign(data)
    else:
        raise SignatureError(f"sign.key holds a {type(private_key).__name__}; cosign keys are ECDSA, RSA or Ed25519")
    return base64.b64encode(raw).decode()


def verifies(public_key: PublicKey, signature: Signature) -> bool:
    try:
        raw = base64.b64decode(signature.signature, validate=True)
        key = public_key.key
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, signature.payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, signature.payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(raw, signature.payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_digest(signature: Signature) -> str | None:
    """The manifest digest a payload names, or None when it is no cosign image signature."""
    try:
        critical = json.loads(signature.payload)["critical"]
        if critical["type"] != PAYLOAD_TYPE:
            return None
        return critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        return None


class ImageSignatures:
    """The cosign signatures of images in ``repository``, through ``client`` (a ``RegistryClient``)."""

    def __init__(self, client, repository: str) -> None:
        self.client, self.repository = client, repository

    def _manifest(self, digest: str) -> dict | None:
        path = f"/v2/{self.repository}/manifests/{signature_tag(digest)}"
        response = self.client.request("GET", path, {"Accept": OCI_MANIFEST})
        if response.status == 404:
            response.error_body()
            return None
        if response.status >= 400:
            raise RegistryError(f"registry {self.client.registry} answered {response.status} {response.reason} to "
                                f"GET of the signatures {self.repository}:{signature_tag(digest)}"
                                f"{error_detail(response.error_body())}")
        content = response.read(1 << 20, f"the signature manifest at {response.url}")
        try:
            manifest = json.loads(content)
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
            raise SignatureError(f"{self.repository}:{signature_tag(digest)} is not a cosign signature manifest")
        return manifest

    def read(self, digest: str) -> tuple[dict | None, list[Signature]]:
        """The signature manifest of ``digest`` (None without one) and its signatures, each payload re-hashed."""
        manifest = self._manifest(digest)
        if manifest is None:
            return None, []
        signatures = []
        for layer in manifest["layers"][:MAX_SIGNATURES]:
            annotation = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
            if not annotation or layer.get("mediaType") != SIMPLE_SIGNING:
                continue
            body = self._blob(layer["digest"])
            if digest_of(body) != layer["digest"]:
                continue  # a payload whose bytes are not the layer's is nobody's signature
            signatures.append(Signature(body, annotation))
        return manifest, signatures

    def _blob(self, digest: str) -> bytes:
        response = self.client.request("GET", f"/v2/{self.repository}/blobs/{digest}")
        if response.status >= 400:
            raise RegistryError(f"registry {self.client.registry} answered {response.status} {response.reason} to "
                                f"GET of signature payload {digest} in {self.repository}"
                                f"{error_detail(response.error_body())}")
        return response.read(MAX_PAYLOAD_BYTES, f"signature payload {digest}")

    def check(self, digest: str, keys: list[PublicKey]) -> PublicKey:
        """The key that signed ``digest``; a SignatureError naming digest, keys and what is wrong otherwise."""
        image = f"{self.client.registry}/{self.repository}@{digest}"
        names = ", ".join(key.name for key in keys)
        manifest, signatures = self.read(digest)
        if manifest is None or not signatures:
            raise SignatureError(f"{image} has no signature: the registry has no {signature_tag(digest)} "
                                 f"{'tag' if manifest is None else 'signature layer'} in {self.repository}; "
                                 f"expected one by {names}")
        other_digests = []
        for signature in signatures:
            for key in keys:
                if verifies(key, signature):
                    signed = signed_digest(signature)
                    if signed == digest:
                        return key
                    other_digests.append(f"{key.name} signed {signed or 'no image digest'}")
        if other_digests:
            raise SignatureError(f"{image} has no valid signature: its signature is a signature of another digest "
                                 f"({'; '.join(other_digests)}), not of {digest}")
        raise SignatureError(f"{image} has no valid signature: its {len(signatures)} signature(s) are by another key, "
                             f"none verifies with {names}")

    def add(self, digest: str, docker_reference: str, private_key, check_mode: bool = False) -> bool:
        """Sign ``digest`` with ``private_key`` unless a signature by its public key is there; whether it signed."""
        public = PublicKey("sign.key", private_key.public_key())
        manifest, signatures = self.read(digest)
        if any(verifies(public, signature) and signed_digest(signature) == digest for signature in signatures):
            return False
        if check_mode:
            return True
        body = payload(docker_reference, digest)
        layer = {"mediaType": SIMPLE_SIGNING, "size": len(body), "digest": digest_of(body),
                 "annotations": {SIGNATURE_ANNOTATION: sign(private_key, body)}}
        layers = [*(manifest or {}).get("layers", []), layer]
        config = json.dumps({
            "architecture": "", "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
            "rootfs": {"type": "layers", "diff_ids": [entry["digest"] for entry in layers]}, "config": {},
        }, separators=(",", ":")).encode()
        self._upload(body)
        self._upload(config)
        document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": digest_of(config)},
                    "layers": layers}
        content = json.dumps(document, separators=(",", ":")).encode()
        path = f"/v2/{self.repository}/manifests/{signature_tag(digest)}"
        response = self.client.request("PUT", path, {"Content-Type": OCI_MANIFEST}, body=content)
        problem = response.error_body()
        if response.status != 201:
            raise RegistryError(f"registry {self.client.registry} answered {response.status} {response.reason} to "
                                f"PUT of the signature {self.repository}:{signature_tag(digest)}{error_detail(problem)}")
        return True

    def _upload(self, content: bytes) -> None:
        digest = digest_of(content)
        head = self.client.request("HEAD", f"/v2/{self.repository}/blobs/{digest}")
        head.discard()
        if head.status == 200:
            return
        started = self.client.request("POST", f"/v2/{self.repository}/blobs/uploads/", {"Content-Length": "0"},
                                      body=b"")
        detail = error_detail(started.error_body())
        location = started.header("Location")
        if started.status != 202 or not location:
            raise RegistryError(f"registry {self.client.registry} answered {started.status} {started.reason} to the "
                                f"start of an upload to {self.repository}{detail}")
        upload = self.client.relative(location)
        if upload is None:
            raise RegistryError(f"registry {self.client.registry} sends the upload to {location}, another host; "
                                "signatures are written to the registry itself only")
        separator = "&" if "?" in upload else "?"
        done = self.client.request("PUT", f"{upload}{separator}digest={digest}",
                                   {"Content-Type": "application/octet-stream", "Content-Length": str(len(content))},
                                   body=content)
        detail = error_detail(done.error_body())
        if done.status != 201:
            raise RegistryError(f"registry {self.client.registry} answered {done.status} {done.reason} to the upload "
                                f"of {digest} to {self.repository}{detail}")
