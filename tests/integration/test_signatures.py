"""Signed images: ``registry_image`` signs in cosign's format and checks signatures, proved with Debian's cosign.

cosign runs from the tool image of ``tests/images/cosign.py`` (Debian 13's package on the trixie host base), on the
host network, trusting the registry's CA (``SSL_CERT_FILE``) and logged in with the push account (a Docker
configuration of the test's own): ``cosign verify --key`` must accept what the module signs, and the module must
accept what ``cosign sign --key`` signs, and refuse what it must.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from support import ROOT, push_credentials, run_module, scratch_context

sys.path.insert(0, str(ROOT / "tests" / "images"))
from cosign import build_cosign_image

MODULE = "dockyard.registry.registry_image"
PASSWORD = "a test password"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Cosign:
    """Debian's cosign in its tool image, with ``workdir`` mounted at /work (keys and the Docker login there)."""

    def __init__(self, image: str, workdir: Path, registry) -> None:
        self.image, self.workdir, self.registry = image, workdir, registry
        (workdir / "ca.crt").write_bytes(registry.ca_path.read_bytes())
        user, password = push_credentials()["username"], push_credentials()["password"]
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        (workdir / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": token}}}))

    def run(self, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "run", "--rm", "--network", "host", "--volume", f"{self.workdir}:/work", "--workdir", "/work",
             "--env", "SSL_CERT_FILE=/work/ca.crt", "--env", "DOCKER_CONFIG=/work", "--env",
             f"COSIGN_PASSWORD={password}", self.image, "cosign", *args],
            check=False, capture_output=True, text=True, timeout=120)

    def key_pair(self, name: str) -> tuple[Path, Path]:
        made = self.run("generate-key-pair", f"--output-key-prefix={name}")
        assert made.returncode == 0, made.stderr
        return self.workdir / f"{name}.key", self.workdir / f"{name}.pub"

    def verify(self, reference: str, public: Path) -> subprocess.CompletedProcess:
        return self.run("verify", "--key", f"/work/{public.name}", "--insecure-ignore-tlog", reference)

    def sign(self, reference: str, key: Path) -> None:
        signed = self.run("sign", "--key", f"/work/{key.name}", "--tlog-upload=false", "--yes", reference)
        assert signed.returncode == 0, signed.stderr


@pytest.fixture(scope="module")
def cosign(registry, tmp_path_factory) -> Cosign:
    return Cosign(build_cosign_image(), tmp_path_factory.mktemp("cosign"), registry)


@pytest.fixture(scope="module")
def keys(cosign) -> dict[str, tuple[Path, Path]]:
    return {"pipeline": cosign.key_pair("pipeline"), "other": cosign.key_pair("other")}


@pytest.fixture
def repository(registry) -> str:
    return f"{registry.address}/test/signed-{uuid.uuid4().hex[:12]}"


def push(name: str, image, sign: dict | None = None) -> dict:
    args = {"name": name, "source": image.id, **push_credentials()}
    if sign:
        args["sign"] = sign
    result = run_module(MODULE, args)
    assert not result.get("failed"), result.get("msg", result)
    return result


def check(name: str, public: Path, state: str = "verified", **extra) -> dict:
    return run_module(MODULE, {"name": name, "state": state, "verify": "signature", "public_keys": [str(public)],
                               "pull": False, **push_credentials(), **extra})


def signing_key(keys, name: str = "pipeline") -> dict:
    return {"key": keys[name][0].read_text(), "password": PASSWORD}


def test_cosign_verify_accepts_what_the_module_signs_at_push_and_a_second_run_adds_nothing(
        repository, image, keys, cosign):
    pushed = push(f"{repository}:1", image, signing_key(keys))
    assert pushed["changed"] and pushed["signature"]["added"]
    verified = cosign.verify(f"{repository}@{pushed['digest']}", keys["pipeline"][1])
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == pushed["digest"]
    again = push(f"{repository}:1", image, signing_key(keys))
    assert not again["changed"] and not again["signature"]["added"]
    assert cosign.verify(f"{repository}@{pushed['digest']}", keys["other"][1]).returncode != 0


def test_state_signed_signs_an_image_in_the_registry_in_check_mode_then_for_real(repository, image, keys, cosign):
    digest = push(f"{repository}:1", image)["digest"]
    args = {"name": f"{repository}:1", "state": "signed", "sign": signing_key(keys), **push_credentials()}
    predicted = run_module(MODULE, args, "--check")
    assert predicted["changed"] and cosign.verify(f"{repository}@{digest}", keys["pipeline"][1]).returncode != 0
    signed = run_module(MODULE, args)
    assert signed["changed"] and signed["digest"] == digest, signed
    assert cosign.verify(f"{repository}@{digest}", keys["pipeline"][1]).returncode == 0
    assert not run_module(MODULE, args)["changed"]
    assert not run_module(MODULE, args, "--check")["changed"]


def test_the_module_accepts_a_signature_cosign_made_and_names_the_key(repository, image, keys, cosign):
    digest = push(f"{repository}:1", image)["digest"]
    cosign.sign(f"{repository}@{digest}", keys["pipeline"][0])
    result = check(f"{repository}:1", keys["pipeline"][1])
    assert not result.get("failed"), result.get("msg")
    assert result["signature"]["key"].startswith(f"public_keys[1] ({keys['pipeline'][1]}) key sha256:")


def test_an_unsigned_digest_is_refused_as_having_no_signature(repository, image, keys):
    digest = push(f"{repository}:1", image)["digest"]
    result = check(f"{repository}:1", keys["pipeline"][1])
    assert result["failed"]
    assert result["msg"].startswith(f"{repository}@{digest} has no signature: the registry has no "
                                    f"sha256-{digest[7:]}.sig tag"), result["msg"]
    assert f"public_keys[1] ({keys['pipeline'][1]})" in result["msg"]


def test_a_digest_signed_by_another_key_is_refused_naming_the_key(repository, image, keys, cosign):
    digest = push(f"{repository}:1", image)["digest"]
    cosign.sign(f"{repository}@{digest}", keys["other"][0])
    result = check(f"{repository}:1", keys["pipeline"][1])
    assert result["failed"]
    assert result["msg"].startswith(f"{repository}@{digest} has no valid signature: its 1 signature(s) are by another "
                                    f"key, none verifies with public_keys[1] ({keys['pipeline'][1]}) key sha256:"), \
        result["msg"]


def test_a_signature_of_another_digest_is_refused_naming_both_digests(registry, repository, image, daemon, keys):
    signed = push(f"{repository}:1", image, signing_key(keys))["digest"]
    other = daemon.images.build(fileobj=scratch_context(uuid.uuid4().hex), custom_context=True,
                                tag=f"dockyard-test/image:{uuid.uuid4().hex}", rm=True)[0]
    try:
        unsigned = push(f"{repository}:2", other)["digest"]
    finally:
        daemon.images.remove(other.id, force=True)
    # The signature manifest of the first image, copied under the second's signature tag, as a replay would.
    path = f"{registry.url}/v2/{repository.split('/', 1)[1]}/manifests"
    auth = tuple(push_credentials().values())
    manifest = requests.get(f"{path}/sha256-{signed[7:]}.sig", headers={"Accept": OCI_MANIFEST}, auth=auth,
                            verify=str(registry.ca_path), timeout=30)
    copied = requests.put(f"{path}/sha256-{unsigned[7:]}.sig", data=manifest.content, auth=auth,
                          headers={"Content-Type": OCI_MANIFEST}, verify=str(registry.ca_path), timeout=30)
    assert copied.status_code == 201, copied.text
    result = check(f"{repository}:2", keys["pipeline"][1])
    assert result["failed"]
    assert result["msg"].startswith(f"{repository}@{unsigned} has no valid signature: its signature is a signature of "
                                    f"another digest (public_keys[1] ({keys['pipeline'][1]}) key sha256:"), result["msg"]
    assert f"signed {signed}), not of {unsigned}" in result["msg"]


def test_pulled_with_verify_signature_refuses_an_unsigned_image_before_pulling(repository, image, keys, daemon):
    digest = push(f"{repository}:1", image)["digest"]
    daemon.images.remove(image.id, force=True)
    result = check(f"{repository}@{digest}", keys["pipeline"][1], state="pulled", pull=True)
    assert result["failed"] and "has no signature" in result["msg"], result
    with pytest.raises(Exception, match="No such image"):
        daemon.images.get(f"{repository}@{digest}")


def test_a_wrong_password_fails_naming_the_option_and_the_password_stays_out_of_the_result(repository, image, keys):
    result = run_module(MODULE, {"name": f"{repository}:1", "source": image.id, **push_credentials(),
                                 "sign": {"key": keys["pipeline"][0].read_text(), "password": "wrong horse"}})
    assert result["failed"] and result["msg"].startswith("sign.password does not open sign.key"), result
    assert "wrong horse" not in json.dumps(result) and "ENCRYPTED" not in json.dumps(result)
