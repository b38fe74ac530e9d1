"""The main job on this machine: ``playbooks/site.yml`` on the local inventory, checked from outside.

Every check goes to the machine's default IPv4 address: Docker skips TLS for loopback, so a test
through 127.0.0.1 would prove nothing about trust.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from support import CERTS_D, ROOT, run_module, run_playbook

PKI_DIR = ROOT / "inventories" / "local" / "pki"
REGISTRY_UID = 10001  # registry_uid's default
TLS_DIR = "/etc/dockyard/registry/tls"
SMOKE_REPOSITORY = "dockyard/smoke"


def curl_v2(registry, *options):
    """GET /v2/ with curl, logged in as the local inventory's ci account (given on standard input, not argv)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    user, password = registry.auth
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", "10", "--config", "-", *options,
                           f"{registry.url}/v2/"], input=f'user = "{user}:{password}"\n',
                          check=False, capture_output=True, text=True, env=env)


def test_registry_answers_over_tls_verified_with_the_certs_d_ca(registry):
    answer = curl_v2(registry, "--cacert", str(registry.ca_path))
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == "{}"


def test_registry_tls_check_fails_without_the_ca(registry):
    answer = curl_v2(registry)
    assert answer.returncode == 60, answer  # curl: peer certificate cannot be authenticated
    assert "certificate" in answer.stderr


def test_second_run_changes_nothing(site_run):
    rerun = run_playbook("playbooks/site.yml")
    assert rerun.returncode == 0, str(rerun)
    assert rerun.changed == 0, str(rerun)


def test_skopeo_module_and_daemon_agree_on_the_smoke_digest(registry):
    reference = f"{registry.address}/{SMOKE_REPOSITORY}:1"
    skopeo = subprocess.run(["skopeo", "inspect", "--cert-dir", str(CERTS_D / registry.address),
                             f"docker://{reference}"], capture_output=True, text=True, check=True)
    skopeo_digest = json.loads(skopeo.stdout)["Digest"]

    verified = run_module("dockyard.registry.registry_image", {"name": reference, "state": "verified"})
    assert not verified.get("failed"), verified
    module_digest = verified["digest"]

    inspect = subprocess.run(["docker", "image", "inspect", f"{registry.address}/{SMOKE_REPOSITORY}@{skopeo_digest}"],
                             capture_output=True, text=True, check=True)
    repo_digests = json.loads(inspect.stdout)[0]["RepoDigests"]

    assert module_digest == skopeo_digest
    assert f"{registry.address}/{SMOKE_REPOSITORY}@{skopeo_digest}" in repo_digests


def test_ca_key_stays_on_the_controller_and_keys_are_private(site_run):
    assert stat.S_IMODE(os.stat(PKI_DIR).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(PKI_DIR / "ca.key").st_mode) == 0o600
    server_key = os.stat(f"{TLS_DIR}/server.key")
    # Owned by the unprivileged user the registry runs as (CIS Docker Benchmark 4.1), readable by it alone.
    assert (stat.S_IMODE(server_key.st_mode), server_key.st_uid) == (0o400, REGISTRY_UID)
    for public in ("server.crt", "ca.crt"):
        assert stat.S_IMODE(os.stat(f"{TLS_DIR}/{public}").st_mode) == 0o444


def test_certs_d_holds_the_ca_root_owned_and_read_only(registry):
    ca = os.stat(registry.ca_path)
    directory = os.stat(registry.ca_path.parent)
    assert (stat.S_IMODE(ca.st_mode), ca.st_uid, ca.st_gid) == (0o444, 0, 0)
    assert stat.S_IMODE(directory.st_mode) == 0o755
    assert registry.ca_path.read_bytes() == (PKI_DIR / "ca.crt").read_bytes()
    assert not (CERTS_D / f"127.0.0.1:{registry.address.rsplit(':', 1)[1]}").exists()


def test_server_certificate_names_every_client_address(registry, machine_ip):
    certificate = x509.load_pem_x509_certificate(Path(TLS_DIR, "server.crt").read_bytes())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert machine_ip in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert "dockyard-local" in sans.get_values_for_type(x509.DNSName)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = x509.load_pem_x509_certificate((PKI_DIR / "ca.crt").read_bytes())
    assert certificate.issuer == ca.subject
    certificate.verify_directly_issued_by(ca)


def test_trust_absent_removes_the_ca_and_present_puts_it_back(registry):
    removed = run_playbook("playbooks/trust.yml", extra_vars={"registry_trust_state": "absent"})
    assert removed.returncode == 0, str(removed)
    assert not registry.ca_path.parent.exists()
    restored = run_playbook("playbooks/trust.yml")
    assert restored.returncode == 0, str(restored)
    assert registry.ca_path.is_file()
    assert curl_v2(registry, "--cacert", str(registry.ca_path)).stdout == "{}"


BAD_INPUT = [
    ({"registry_trust_mode": "bogus"}, "registry_trust_mode must be one of: ca"),
    ({"registry_image_source": "ftp"}, "registry_image_source must be one of: pull, archive, package, auto, got: ftp"),
    ({"registry_port": 0}, "registry_port must be an integer from 1 to 65535"),
    ({"registry_port": 70000}, "registry_port must be an integer from 1 to 65535"),
    ({"registry_names": ["registry.example.com", ""]}, "entry 1: an empty entry"),
    ({"registry_names": ["bad name"]}, "registry_names accepts a list of DNS names and IP addresses"),
    ({"registry_names": ["registry.example.com:5000"]}, "the port is registry_port"),
    ({"registry_image_source": "archive"}, "registry_image_archive"),
    ({"registry_image_source": "archive", "registry_image_archive": "/nonexistent/registry.tar"},
     "/nonexistent/registry.tar"),
    ({"registry_image": "Not A Reference!"}, "registry_image"),
    ({"registry_users": [{"name": "ci"}]}, "entry 0 (ci): password must be a non-empty string"),
    ({"registry_users": [{"name": "ci", "password": "x", "role": "push"}, {"name": "ci", "password": "y", "role": "pull"}]},
     "listed twice"),
    ({"registry_users": [{"name": "ci", "password": "x"}]}, "entry 0 (ci): role must be pull"),
    ({"registry_users": [{"name": "ci", "password": "x", "role": "push", "repositories": ["team-a"]}]},
     "repositories must be prefixes of repository names ending in /*"),
    ({"registry_users": [{"name": "ci", "password": "x", "role": "push"}]},
     "registry_users has no account of role pull for the Docker hosts to log in with"),
    ({"registry_trust_login_user": "ci"}, "registry_trust_login_user \"ci\" is a push account"),
    ({"registry_server_auth_realm": "say \"hi\""}, "registry_server_auth_realm must be 1-64 letters"),
    ({"registry_server_loopback_port": 5000}, "registry_server_loopback_port must be an integer from 1 to 65535 other"),
    ({"registry_tls": False, "registry_trust_mode": "insecure"}, "Basic auth over plain HTTP"),
    ({"registry_server_bcrypt_cost": 3}, "registry_server_bcrypt_cost must be an integer from 4 to 31"),
    ({"registry_server_bind_address": "every.where"}, "registry_server_bind_address must be an IP address"),
    ({"registry_trust_login_user": "nobody"}, "registry_trust_login_user \"nobody\" is not the name of an account"),
    ({"registry_allow_anonymous": True}, "registry_allow_anonymous is true, but registry_users lists accounts"),
    ({"registry_pki_ca_passphrase": ""}, "registry_pki_ca_passphrase is empty"),
    ({"registry_pki_server_not_after": "20271231"}, "registry_pki_server_not_after must be a validity from now"),
]


def test_a_passphrase_that_does_not_open_the_ca_key_fails_before_anything_changes(site_run):
    key = PKI_DIR / "ca.key"
    before = key.read_bytes()
    run = run_playbook("playbooks/site.yml", extra_vars={"registry_pki_ca_passphrase": "not the passphrase"})
    assert run.returncode != 0, str(run)
    assert f"registry_pki_ca_passphrase does not open the CA key in {PKI_DIR}" in run.output, str(run)
    assert run.changed == 0, str(run)
    assert key.read_bytes() == before


def test_the_ca_key_is_kept_encrypted_on_the_controller(site_run):
    pem = (PKI_DIR / "ca.key").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(TypeError, match="Password was not given but private key is encrypted"):
        serialization.load_pem_private_key(pem, password=None)


@pytest.mark.parametrize(("extra_vars", "message"), BAD_INPUT, ids=[str(case[0]) for case in BAD_INPUT])
def test_bad_input_fails_before_anything_changes(extra_vars, message, tmp_path):
    fresh_pki = tmp_path / "pki"
    run = run_playbook("playbooks/site.yml", extra_vars={**extra_vars, "registry_pki_dir": str(fresh_pki)})
    assert run.returncode != 0, str(run)
    assert message in run.output, str(run)
    assert run.changed == 0, str(run)
    assert "PLAY [Issue the registry's certificates]" not in run.output, str(run)
    assert not fresh_pki.exists()


def test_an_archive_without_the_registry_image_fails_before_anything_changes(tmp_path):
    """registry_image_source archive: the archive's manifest.json, read on the controller, must name registry_image."""
    archive = tmp_path / "busybox.tar"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([{"Config": "0" * 64 + ".json", "RepoTags": ["busybox:latest"], "Layers": []}]))
    with tarfile.open(archive, "w") as tar:
        tar.add(manifest, "manifest.json")
    fresh_pki = tmp_path / "pki"
    run = run_playbook("playbooks/site.yml", extra_vars={
        "registry_image_source": "archive", "registry_image_archive": str(archive), "registry_image": "registry:2",
        "registry_pki_dir": str(fresh_pki)})
    assert run.returncode != 0, str(run)
    assert (f"The archive {archive} (registry_image_archive) does not contain the image registry:2 (registry_image). "
            "It contains: busybox:latest.") in run.output, str(run)
    assert run.changed == 0, str(run)
    assert not fresh_pki.exists()
