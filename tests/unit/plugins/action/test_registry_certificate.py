"""The controller's part of registry_certificate: its CA signs a host's request only for the names it computes.

The plugin's real signing path runs with a real CA on disk; only the host's half (the module, which runs on the
registry host and returns the certificate request) is played by the test, so that it can send what a host under
someone else's control could send.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
import x509_certificates
from ansible.errors import AnsibleActionFail
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.dockyard.registry.plugins.action import registry_certificate as plugin
from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki

PASSPHRASE = b"the CA's passphrase"
IDENTITY = {"fqdn": "replica1.example.com", "default_ipv4": "192.0.2.11"}
ARGS = {"path": "/etc/dockyard/registry/tls", "names": ["replica1", "dockyard-replica1"],
        "extra_names": ["registry.example.com", "lb", "172.31.59.10"]}
# What the controller computes for the host from ARGS and the host's reported identity.
COMPUTED = ["DNS:replica1", "DNS:dockyard-replica1", "DNS:replica1.example.com", "IP:192.0.2.11",
            "DNS:registry.example.com", "DNS:lb", "IP:172.31.59.10"]


@pytest.fixture
def ca_dir(tmp_path, test_ca) -> Path:
    """A controller CA as the registry_pki role keeps it: ca.crt, and ca.key encrypted with the passphrase."""
    certificate, key = test_ca
    (tmp_path / "ca.crt").write_bytes(pki.certificate_pem(certificate))
    (tmp_path / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE)))
    return tmp_path


class Host:
    """The registry host's half: judges (a certificate is due) and returns ``csr``; then takes the certificate."""

    def __init__(self, csr) -> None:
        self.csr = csr
        self.calls: list[dict] = []

    def __call__(self, module_name, module_args, task_vars):
        self.calls.append(module_args)
        if "certificate" in module_args:
            return {"changed": True, "names": COMPUTED, "certificate": module_args["certificate"], "diff": []}
        return {"changed": False, "names": COMPUTED, "reasons": ["there is no certificate yet"], "signing_ca": "ca",
                "csr": pki.csr_pem(self.csr).decode(), "ansible_facts": {"dockyard_host": IDENTITY}}


def run(ca_dir: Path, host: Host, inventory_hostname: str = "replica1", check_mode: bool = False, **args) -> dict:
    task = mock.MagicMock(args={**ARGS, "ca_dir": str(ca_dir), "ca_passphrase": PASSPHRASE.decode(), **args},
                          async_val=0, check_mode=check_mode, action="dockyard.registry.registry_certificate")
    action = plugin.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                                 shared_loader_obj=None)
    with mock.patch.object(action, "_execute_module", side_effect=host):
        return action.run(task_vars={"inventory_hostname": inventory_hostname})


def request(sans) -> x509.CertificateSigningRequest:
    return pki.certificate_request(ec.generate_private_key(ec.SECP256R1()), sans)


def test_a_request_for_the_computed_names_is_signed_and_installed(ca_dir):
    host = Host(request(COMPUTED))
    result = run(ca_dir, host)
    assert not result.get("failed"), result
    assert result["changed"] is True
    issued = pki.load_certificate(host.calls[-1]["certificate"].encode())
    assert pki.san_entries_of(issued) == COMPUTED
    assert (ca_dir / "servers" / "replica1.crt").read_text() == host.calls[-1]["certificate"]


@pytest.mark.parametrize(("sans", "says"), [
    ([*COMPUTED, "DNS:bank.example.com"],
     "it asks for DNS:bank.example.com, which the controller did not compute for the host"),
    (COMPUTED[:-1], "it lacks IP:172.31.59.10, which the controller computed for the host"),
], ids=["extra-name", "missing-address"])
def test_a_request_for_other_names_is_refused_naming_the_difference_and_nothing_is_issued(ca_dir, sans, says):
    host = Host(request(sans))
    result = run(ca_dir, host)
    assert result["failed"] is True
    assert result["msg"] == ("dockyard.registry.registry_certificate: the CA does not sign the certificate request of "
                             f"replica1: {says}. No certificate was issued.")
    assert len(host.calls) == 1  # no second call: no certificate went to the host
    assert not (ca_dir / "servers").exists()


def test_a_request_whose_signature_does_not_verify_is_refused(ca_dir):
    der = bytearray(request(COMPUTED).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    host = Host(x509.load_der_x509_csr(bytes(der)))
    result = run(ca_dir, host)
    assert result["failed"] is True
    assert "its signature does not verify with the public key it carries" in result["msg"]
    assert len(host.calls) == 1
    assert not (ca_dir / "servers").exists()


@pytest.mark.parametrize("inventory_hostname", ["../ca", "replica1\nx", "a/b"])
def test_a_host_name_that_cannot_name_a_file_on_the_controller_is_refused_before_the_host_is_asked(
        ca_dir, inventory_hostname):
    host = Host(request(COMPUTED))
    with pytest.raises(AnsibleActionFail, match="the inventory host name .* cannot name its certificate's file"):
        run(ca_dir, host, inventory_hostname=inventory_hostname)
    assert host.calls == []
    assert sorted(path.name for path in ca_dir.iterdir()) == ["ca.crt", "ca.key"]


def test_a_bad_extra_name_is_refused_naming_the_variables_before_the_host_is_asked(ca_dir):
    host = Host(request(COMPUTED))
    with pytest.raises(AnsibleActionFail, match=r"extra_names \(registry_names and the names of the load balancers"):
        run(ca_dir, host, extra_names=["1.1.1.1:5000 check\nlisten x"])
    assert host.calls == []


def test_check_mode_predicts_the_refusal_of_a_request_for_other_names(ca_dir):
    result = run(ca_dir, Host(request([*COMPUTED, "DNS:bank.example.com"])), check_mode=True)
    assert result["failed"] is True
    assert "it asks for DNS:bank.example.com" in result["msg"]


# A certificate brought along is verified on the controller as strictly as the hosts' Python 3.13 verifies it.
SANS = ["registry.example.com", "192.0.2.11"]


def test_a_certificate_brought_along_from_a_ca_as_the_role_makes_it_verifies():
    ca = x509_certificates.registry_ca("operator CA")
    assert plugin.chain_problem(x509_certificates.pem(ca.issue(SANS)), ca.pem) == ""


def test_a_certificate_brought_along_verifies_with_the_intermediate_that_comes_with_it_and_not_without():
    root = x509_certificates.Authority("operator root")
    intermediate = x509_certificates.Authority("operator issuing CA", issuer=root)
    leaf = intermediate.issue(SANS)
    assert plugin.chain_problem(x509_certificates.pem(leaf, intermediate.certificate), root.pem) == ""
    assert "no CA of registry_pki_byo_ca issued it" in plugin.chain_problem(x509_certificates.pem(leaf), root.pem)


@pytest.mark.parametrize(("authority", "leaf_options", "says"), [
    ({"usage": None}, {}, "the CA that issued it: invalid extension: keyUsage"),
    ({}, {"key_ids": False}, "the certificate: invalid extension: authorityKeyIdentifier"),
    ({"ca": None, "usage": None}, {}, "the CA that issued it: invalid extension: basicConstraints"),
    ({}, {"ca": True}, "the certificate: basicConstraints.cA must not be asserted"),
])
def test_a_certificate_brought_along_that_python_3_13_would_refuse_is_refused_naming_what_is_missing(
        authority, leaf_options, says):
    ca = x509_certificates.Authority("operator CA", **authority)
    assert plugin.chain_problem(x509_certificates.pem(ca.issue(SANS, **leaf_options)), ca.pem).startswith(says)


def test_a_certificate_brought_along_from_another_ca_of_the_same_name_is_refused():
    issuer, other = x509_certificates.registry_ca("operator CA"), x509_certificates.registry_ca("operator CA")
    assert plugin.chain_problem(x509_certificates.pem(issuer.issue(SANS)), other.pem) == (
        "no CA of registry_pki_byo_ca issued it: a CA there of the issuer's name did not sign it")
