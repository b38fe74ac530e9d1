"""Signed images on the Podman host: with registry_signature_policy enforce, Podman pulls an image signed with the
pipeline's key (registry_image, state signed), and refuses an unsigned one and one signed by another key; once the
policy is off again it pulls anything. The policy is applied with the trust playbook on the Podman host alone, as an
operator would turn it on, and turned off at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import TEST_REPOSITORY, PushedImage, podman_pull, push_new_image, push_options, run_ok

ROOT = Path(__file__).resolve().parents[3]
KEYS = ROOT / "tests" / "cosign-keys"
TRUST = ROOT / "playbooks" / "trust.yml"
POLICY = "/etc/containers/policy.json"
ATTACHMENTS = "/etc/containers/registries.d/dockyard-registry.yaml"


def sign_on_the_controller(fleet, address: str, image: PushedImage, key: Path, password: str) -> None:
    """registry_image state=signed, run here (the key stays on the controller), through ``address``."""
    arguments = {"name": f"{address}/{image.repository}@{image.digest}", "state": "signed", "insecure": False,
                 "sign": {"key_path": str(key), "password": password}, "ca_path": str(fleet.pki_dir / "ca.crt"),
                 **push_options(fleet)}
    run = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                          "-e", f"ansible_python_interpreter={sys.executable}", "-m", "dockyard.registry.registry_image",
                          "-a", json.dumps(arguments)],
                         check=False, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})
    assert run.returncode == 0 and "CHANGED" in run.stdout, f"signing {image.tag} failed: {run.stdout}{run.stderr}"


def policy_run(fleet, policy: str, *options: str):
    """The trust playbook on the Podman host with ``policy``; ``options`` such as --check --diff go before it."""
    extra_vars = {"registry_signature_policy": policy, "registry_signature_public_keys": [str(KEYS / "pipeline.pub")]}
    if not options:
        return fleet.ansible_playbook(TRUST, limit="podman", extra_vars=extra_vars)
    return subprocess.run(["ansible-playbook", "-i", str(fleet.inventory), "--extra-vars", json.dumps(extra_vars),
                           "--limit", "podman", *options, str(TRUST)], check=False, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})


def changed_on_podman(run) -> int:
    recap = [line for line in run.stdout.splitlines() if line.startswith("podman ")]
    assert recap, run.stdout
    return int(recap[-1].split("changed=")[1].split()[0])


@pytest.fixture(scope="module")
def images(fleet) -> tuple[str, dict[str, PushedImage]]:
    """Three new images, pushed through the registry's first IP address: one signed with the pipeline's key, one
    unsigned, one signed with another key."""
    address = f"{fleet.registry_ips[0]}:{fleet.port}"
    pushed = {}
    for name in ("signed", "unsigned", "other"):
        tag = f"{name}-{uuid.uuid4().hex[:8]}"
        result = push_new_image(fleet, TEST_REPOSITORY, tag, f"dockyard signature test {name} {tag}\n")
        assert str(result.get("digest", "")).startswith("sha256:"), result
        pushed[name] = PushedImage(fleet.pusher, TEST_REPOSITORY, tag, result["digest"])
    sign_on_the_controller(fleet, address, pushed["signed"], KEYS / "pipeline.key", "pw")
    sign_on_the_controller(fleet, address, pushed["other"], KEYS / "other.key", "pw2")
    return address, pushed


def pull(host, address: str, image: PushedImage):
    reference = image.by_digest(address)
    host.run("podman --storage-driver vfs rmi --force %s", reference)
    return podman_pull(host, reference)


def test_podman_with_the_enforced_policy_pulls_only_what_the_pipelines_key_signed(fleet, images):
    address, pushed = images
    host = fleet.host("podman")
    before = run_ok(host, "cat %s", POLICY)
    predicted = policy_run(fleet, "enforce", "--check", "--diff")
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    assert changed_on_podman(predicted) >= 1 and '"type": "sigstoreSigned"' in predicted.stdout, predicted.stdout
    assert run_ok(host, "cat %s", POLICY) == before and not host.file(ATTACHMENTS).exists
    enforced = policy_run(fleet, "enforce")
    assert enforced.returncode == 0, enforced.stdout + enforced.stderr
    assert changed_on_podman(enforced) >= 1, enforced.stdout
    policy = json.loads(run_ok(host, "cat %s", POLICY))
    assert policy["transports"]["docker"][address][0]["type"] == "sigstoreSigned"
    assert policy["default"] == json.loads(before)["default"]
    assert "use-sigstore-attachments: true" in run_ok(host, "cat %s", ATTACHMENTS)
    signed = pull(host, address, pushed["signed"])
    assert signed.rc == 0, f"podman refused the signed image: {signed.stderr}"
    for name in ("unsigned", "other"):
        refused = pull(host, address, pushed[name])
        assert refused.rc != 0, f"podman pulled the {name} image despite the policy: {refused.stdout}"
        assert "signature" in refused.stderr.lower(), refused.stderr
    again = policy_run(fleet, "enforce")
    assert again.returncode == 0 and changed_on_podman(again) == 0, again.stdout


def test_podman_pulls_anything_once_the_policy_is_off(fleet, images):
    address, pushed = images
    host = fleet.host("podman")
    off = policy_run(fleet, "off")
    assert off.returncode == 0, off.stdout + off.stderr
    assert address not in json.loads(run_ok(host, "cat %s", POLICY))["transports"].get("docker", {})
    assert not host.file(ATTACHMENTS).exists
    for name in ("unsigned", "other"):
        pulled = pull(host, address, pushed[name])
        assert pulled.rc == 0, f"podman refused the {name} image without the policy: {pulled.stderr}"
