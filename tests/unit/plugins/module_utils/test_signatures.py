"""The cosign signature format: keys made by Debian's cosign, payloads, signatures (no registry needed)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.dockyard.registry.plugins.module_utils._registry.signatures import (
    PAYLOAD_TYPE,
    PublicKey,
    Signature,
    SignatureError,
    key_id,
    load_private_key,
    load_public_key,
    payload,
    sign,
    signature_tag,
    signed_digest,
    verifies,
)

KEYS = Path(__file__).parents[3] / "cosign-keys"
DIGEST = "sha256:" + "ab" * 32


def cosign_key():
    return load_private_key((KEYS / "pipeline.key").read_bytes(), "pw")


def test_the_key_cosign_made_opens_with_its_password_and_matches_its_public_key():
    public = load_public_key((KEYS / "pipeline.pub").read_bytes(), "pipeline.pub")
    assert key_id(cosign_key().public_key()) == key_id(public.key)


def test_a_wrong_password_fails_naming_the_password_option():
    with pytest.raises(SignatureError, match=r"^sign.password does not open sign.key: the password is wrong"):
        load_private_key((KEYS / "pipeline.key").read_bytes(), "not the password")


def test_a_pem_of_another_kind_is_refused_naming_the_format():
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(SignatureError, match="sign.key is not a cosign private key"):
        load_private_key(other, "pw")


def test_the_payload_is_cosigns_simple_signing_document():
    document = json.loads(payload("registry.example:5000/team/app", DIGEST))
    assert document == {"critical": {"identity": {"docker-reference": "registry.example:5000/team/app"},
                                     "image": {"docker-manifest-digest": DIGEST}, "type": PAYLOAD_TYPE},
                        "optional": None}
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"


def test_a_signature_verifies_with_the_public_key_only():
    body = payload("r/a", DIGEST)
    signature = Signature(body, sign(cosign_key(), body))
    assert verifies(load_public_key((KEYS / "pipeline.pub").read_bytes(), "pipeline.pub"), signature)
    assert not verifies(load_public_key((KEYS / "other.pub").read_bytes(), "other.pub"), signature)
    assert signed_digest(signature) == DIGEST


def test_a_changed_payload_no_longer_verifies():
    body = payload("r/a", DIGEST)
    forged = Signature(payload("r/a", "sha256:" + "cd" * 32), sign(cosign_key(), body))
    assert not verifies(PublicKey("k", cosign_key().public_key()), forged)


def test_a_signature_that_is_not_base64_does_not_verify():
    assert not verifies(PublicKey("k", cosign_key().public_key()), Signature(b"{}", "not base64!"))
    assert signed_digest(Signature(b"not json", base64.b64encode(b"x").decode())) is None
