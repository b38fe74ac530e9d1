"""registry_pki with a certificate the operator brings: checked, then installed like the collection's own."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support import CA_PASSPHRASE, run_playbook


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(_name("operator CA")).issuer_name(_name("operator CA"))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(key, hashes.SHA256()))
    return key, certificate


def make_server_certificate(ca_key, ca, dns_names, ips):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    certificate = (x509.CertificateBuilder().subject_name(_name(dns_names[0])).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .sign(ca_key, hashes.SHA256()))
    return key, certificate


def write_pem(path, obj):
    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    return str(path)


@pytest.fixture
def brought(tmp_path):
    """Writes an operator's CA and a server certificate for the given names; returns the role's variables."""
    def bring(dns_names, ips):
        ca_key, ca = make_ca()
        key, certificate = make_server_certificate(ca_key, ca, dns_names, ips)
        return {
            "registry_pki_byo_certificate": write_pem(tmp_path / "server.crt", certificate),
            "registry_pki_byo_key": write_pem(tmp_path / "server.key", key),
            "registry_pki_byo_ca": write_pem(tmp_path / "ca.crt", ca),
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
