"""Digests: only ``sha256:<64 lowercase hex>`` passes, hashing is exact and streaming, mismatches are named."""

import hashlib

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._digest import (
    DigestError,
    DigestMismatchError,
    agreed_digest,
    digest_of,
    is_digest,
    parse_digest,
)

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_parse_digest_returns_a_valid_digest_unchanged():
    assert parse_digest(A) == A
    assert is_digest(A)


@pytest.mark.parametrize(("value", "problem"), [
    ("a" * 64, "it lacks the 'sha256:' prefix"),
    ("sha512:" + "a" * 128, "only the sha256 algorithm is supported, not 'sha512'"),
    ("SHA256:" + "a" * 64, "only the sha256 algorithm is supported, not 'SHA256'"),
    ("sha256:" + "A" * 64, "the hexadecimal part must be lower case"),
    ("sha256:" + "a" * 63, "the hexadecimal part has 63 characters instead of 64"),
    ("sha256:" + "a" * 65, "the hexadecimal part has 65 characters instead of 64"),
    ("sha256:" + "g" * 64, "must be hexadecimal"),
    (" " + A, "only the sha256 algorithm is supported"),
    (None, "expected a string, got NoneType"),
])
def test_parse_digest_rejects_with_the_reason_and_an_example(value, problem):
    with pytest.raises(DigestError) as caught:
        parse_digest(value)
    assert problem in str(caught.value)
    assert f"a digest looks like {EMPTY}" in str(caught.value)
    assert not is_digest(value)


def test_digest_of_hashes_the_exact_bytes():
    assert digest_of(b"") == EMPTY
    assert digest_of(b'{"a": 1}') != digest_of(b'{"a":1}')  # same JSON, other bytes, other digest
    assert digest_of(b"manifest") == "sha256:" + hashlib.sha256(b"manifest").hexdigest()


def test_agreed_digest_returns_the_common_value():
    assert agreed_digest({"head": A, "manifest": A, "repo_digest": A}) == A


def test_agreed_digest_names_both_sources_and_values_of_a_mismatch():
    with pytest.raises(DigestMismatchError) as caught:
        agreed_digest({"expected (the digest option)": A, "head (HEAD header)": A, "get (GET bytes)": B})
    assert str(caught.value) == f"digest mismatch: get (GET bytes) is {B}, but expected (the digest option) is {A}"


def test_agreed_digest_needs_a_digest():
    with pytest.raises(ValueError, match="at least one"):
        agreed_digest({})
