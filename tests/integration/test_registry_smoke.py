"""registry_smoke against the machine's registry: one process builds, pushes, untags, pulls back and verifies.

Each test pushes to a repository of its own, and builds a local image of its own, both removed afterwards from
the daemon (the registry keeps the small blobs, as any push would).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from support import CERTS_D, ROOT, push_credentials, run_module

KEYS = ROOT / "tests" / "cosign-keys"


def skopeo_digest(registry, reference: str) -> str:
    inspected = subprocess.run(["skopeo", "inspect", "--cert-dir", str(CERTS_D / registry.address),
                                f"docker://{reference}"], capture_output=True, text=True, check=True)
    return json.loads(inspected.stdout)["Digest"]


def local_images(reference: str) -> list[str]:
    return subprocess.run(["docker", "images", "--quiet", reference], capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.fixture
def names(registry):
    marker = uuid.uuid4().hex[:8]
    repository, local = f"dockyard/smoke-test-{marker}", f"dockyard/smoke-test-{marker}:1"
    yield f"{registry.address}/{repository}:1", local
    subprocess.run(["docker", "image", "rm", "--force", local, f"{registry.address}/{repository}:1"],
                   check=False, capture_output=True)
    for digest in subprocess.run(["docker", "images", "--digests", "--format", "{{.Digest}}",
                                  f"{registry.address}/{repository}"], check=False, capture_output=True, text=True).stdout.split():
        subprocess.run(["docker", "image", "rm", "--force", f"{registry.address}/{repository}@{digest}"],
                       check=False, capture_output=True)


def smoke(name: str, local: str, *extra: str, **options) -> dict:
    """registry_smoke with the local inventory's push account (the host's stored login only pulls)."""
    return run_module("dockyard.registry.registry_smoke", {"name": name, "local": local, **options, **push_credentials()},
                      *extra)


def test_the_first_run_does_every_step_and_the_second_none(registry, names):
    name, local = names
    first = smoke(name, local)
    assert not first.get("failed"), first
    assert first["changed"] is True
    assert first["steps"] == {"built": True, "pushed": True, "untagged": True, "pulled": True}
    assert first["digest"] == skopeo_digest(registry, name)
    assert local_images(name) == [], "the registry's tag left behind by the push is removed"

    second = smoke(name, local)
    assert (second["changed"], second["digest"], second["image_id"]) == (False, first["digest"], first["image_id"])
    assert not any(second["steps"].values())


def test_other_content_is_built_and_pushed_again_and_check_mode_changes_nothing(registry, names):
    name, local = names
    first = smoke(name, local)
    predicted = smoke(name, local, "--check", text="other\n")
    assert (predicted["changed"], skopeo_digest(registry, name)) == (False, first["digest"])

    other = smoke(name, local, text="other\n")
    assert other["steps"]["built"] and other["steps"]["pushed"]
    assert other["digest"] != first["digest"]
    assert other["digest"] == skopeo_digest(registry, name)


def test_a_registry_the_host_does_not_trust_is_named(registry, names):
    _name, local = names
    failed = smoke("127.0.0.2:5999/dockyard/smoke:1", local)
    assert failed.get("failed"), failed
    assert "127.0.0.2:5999" in failed["msg"]


def test_with_keys_the_smoke_image_is_signed_and_its_signature_checked_before_the_pull(registry, names):
    name, local = names
    public_keys = [str(KEYS / "pipeline.pub")]
    unsigned = smoke(name, local, public_keys=public_keys)
    assert unsigned.get("failed") and " has no signature: " in unsigned["msg"], unsigned
    signed = smoke(name, local, public_keys=public_keys, sign={"key_path": str(KEYS / "pipeline.key"), "password": "pw"})
    assert not signed.get("failed"), signed.get("msg")
    assert signed["steps"]["signed"] is True and signed["signature"]["key"].startswith("public_keys[1]")
    other = smoke(name, local, public_keys=[str(KEYS / "other.pub")])
    assert other.get("failed") and "by another key" in other["msg"], other
