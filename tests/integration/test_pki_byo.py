"""registry_pki with a certificate the operator brings: checked, then installed like the collection's own."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from x509_certificates import key_pem, pem, registry_ca

from support import CA_PASSPHRASE, run_playbook


def write_pem(path, obj):
    if isinstance(obj, x509.Certificate):
        path.write_bytes(pem(obj))
    else:
        path.write_bytes(key_pem(obj))
        path.chmod(0o600)
    return str(path)


@pytest.fixture
def brought(tmp_path):
    """Writes an operator's CA and a server certificate for the given names; returns the role's variables."""
    def bring(dns_names, ips, **ca_options):
        ca = registry_ca("operator CA", **ca_options)
        certificate, key = ca.issue_with_key([*dns_names, *ips], common_name=dns_names[0],
                                             extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
        return {
            "registry_pki_byo_certificate": write_pem(tmp_path / "server.crt", certificate),
            "registry_pki_byo_key": write_pem(tmp_path / "server.key", key),
            "registry_pki_byo_ca": write_pem(tmp_path / "ca.crt", ca.certificate),
            "registry_pki_dir": str(tmp_path / "pki"),
            "registry_pki_ca_passphrase": CA_PASSPHRASE,
            "registry_pki_server_dir": str(tmp_path / "host-tls"),
            "registry_names": ["registry.example.test"],
        }
    return bring


def test_certificate_brought_along_is_installed_and_recorded(brought, machine_ip, tmp_path):
    variables = brought(["registry.example.test"], [machine_ip])
    first = run_playbook("playbooks/pki.yml", extra_vars=variables)
    assert first.returncode == 0, str(first)

    host_tls = tmp_path / "host-tls"
    assert stat.S_IMODE(os.stat(host_tls / "server.key").st_mode) == 0o400
    assert stat.S_IMODE(os.stat(host_tls / "server.crt").st_mode) == 0o444
    assert (host_tls / "ca.crt").read_bytes() == (tmp_path / "ca.crt").read_bytes()
    assert (tmp_path / "pki" / "ca.crt").read_bytes() == (tmp_path / "ca.crt").read_bytes()
    assert (tmp_path / "pki" / "servers" / "dockyard-local.crt").read_bytes() == (tmp_path / "server.crt").read_bytes()
    assert not (tmp_path / "pki" / "ca.key").exists()

    second = run_playbook("playbooks/pki.yml", extra_vars=variables)
    assert second.returncode == 0, str(second)
    assert second.changed == 0, str(second)


def test_certificate_without_a_client_address_is_refused_before_installing(brought, machine_ip, tmp_path):
    variables = brought(["registry.example.test"], [])
    run = run_playbook("playbooks/pki.yml", extra_vars=variables)
    assert run.returncode != 0, str(run)
    assert f"does not cover {machine_ip}" in run.output, str(run)
    assert run.changed == 0, str(run)
    assert not (tmp_path / "host-tls").exists()


def test_certificate_with_a_name_that_would_break_a_configuration_file_is_refused_before_installing(
        brought, machine_ip, tmp_path):
    variables = brought(["registry.example.test", "1.1.1.1:5000 check\nlisten x"], [machine_ip])
    run = run_playbook("playbooks/pki.yml", extra_vars=variables)
    assert run.returncode != 0, str(run)
    assert "registry_pki_byo_certificate cannot be used: subjectAltName" in run.output, str(run)
    assert "contains white space" in run.output, str(run)
    assert run.changed == 0, str(run)
    assert not (tmp_path / "host-tls").exists()
    assert not (tmp_path / "pki" / "servers").exists() or not any((tmp_path / "pki" / "servers").iterdir())


def test_key_of_another_certificate_is_refused(brought, machine_ip, tmp_path):
    variables = brought(["registry.example.test"], [machine_ip])
    stranger = ec.generate_private_key(ec.SECP256R1())
    variables["registry_pki_byo_key"] = write_pem(tmp_path / "other.key", stranger)
    run = run_playbook("playbooks/pki.yml", extra_vars=variables)
    assert run.returncode != 0, str(run)
    assert "is not the key of registry_pki_byo_certificate" in run.output, str(run)
    assert not (tmp_path / "host-tls").exists()


def test_certificate_without_its_key_and_ca_is_refused(brought, machine_ip):
    variables = brought(["registry.example.test"], [machine_ip])
    del variables["registry_pki_byo_key"], variables["registry_pki_byo_ca"]
    run = run_playbook("playbooks/site.yml", extra_vars=variables)
    assert run.returncode != 0, str(run)
    assert "go together" in run.output, str(run)
    assert run.changed == 0, str(run)


def test_certificate_of_a_ca_without_key_usage_is_refused_before_the_host_is_asked(brought, machine_ip, tmp_path):
    """Docker takes such a CA; the collection's modules on a Debian 13 host (Python 3.13, strict) would not."""
    variables = brought(["registry.example.test"], [machine_ip], usage=None)
    run = run_playbook("playbooks/pki.yml", extra_vars=variables)
    assert run.returncode != 0, str(run)
    assert "does not verify against registry_pki_byo_ca" in run.output, str(run)
    assert "the CA that issued it: invalid extension: keyUsage" in run.output, str(run)
    assert run.changed == 0, str(run)
    assert not (tmp_path / "host-tls").exists()
    assert not (tmp_path / "pki").exists() or not any((tmp_path / "pki").rglob("*.crt"))
