"""CA discovery reads a certs.d directory the way dockerd does, and ``ca_path`` replaces it."""

import ssl
from pathlib import Path

import pytest
from x509_certificates import registry_ca

from ansible_collections.dockyard.registry.plugins.module_utils._registry.daemon_trust import (
    CertsDir,
    Trust,
    system_ca_bundle,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import TrustConfigError

REGISTRY = "registry.example.com:5000"


def ca_pem(common_name: str) -> bytes:
    """A CA certificate as the registry_pki role makes one, a trust anchor OpenSSL loads."""
    return registry_ca(common_name).pem


def subjects(trust: Trust) -> list[str]:
    """The common names of the CAs the trust's TLS context holds, in the order they were loaded."""
    return [dict(part[0] for part in cert["subject"])["commonName"] for cert in trust.context().get_ca_certs()]


@pytest.fixture
def certs_d(tmp_path) -> Path:
    (tmp_path / REGISTRY).mkdir()
    return tmp_path


@pytest.fixture
def system_roots(tmp_path) -> Path:
    path = tmp_path / "system-roots.pem"
    path.write_bytes(ca_pem("System Root"))
    return path


def test_empty_directory_trusts_the_system_roots_only(certs_d, system_roots):
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=system_roots)
    assert (trust.ca_files, trust.cert) == ((system_roots,), None)
    assert subjects(trust) == ["System Root"]
    assert trust.source == f"the system roots only (no *.crt in {certs_d / REGISTRY})"


def test_missing_directory_is_the_same_as_an_empty_one(tmp_path):
    trust = Trust(REGISTRY, certs_d=tmp_path / "nowhere", system_roots=None)
    assert (trust.ca_files, trust.cert) == ((), None)
    assert trust.context().verify_mode == ssl.CERT_REQUIRED


def test_one_crt_is_trusted_besides_the_system_roots(certs_d, system_roots):
    (certs_d / REGISTRY / "ca.crt").write_bytes(ca_pem("Registry CA"))
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=system_roots)
    assert subjects(trust) == ["System Root", "Registry CA"]
    assert trust.source == f"the system roots and {certs_d / REGISTRY / 'ca.crt'}"


def test_several_crts_are_trusted_in_name_order(certs_d):
    for name in ("b.crt", "a.crt", "c.crt"):
        (certs_d / REGISTRY / name).write_bytes(ca_pem(f"CA {name}"))
    # One file lacks its final newline: each file is read on its own, so it still counts.
    (certs_d / REGISTRY / "a.crt").write_bytes(ca_pem("CA a.crt").rstrip(b"\n"))
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=None)
    assert subjects(trust) == ["CA a.crt", "CA b.crt", "CA c.crt"]


def test_a_crt_that_is_no_certificate_fails_naming_the_file(certs_d):
    (certs_d / REGISTRY / "ca.crt").write_bytes(b"not a certificate\n")
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=None)
    with pytest.raises(TrustConfigError, match=f"cannot use CA file {certs_d / REGISTRY / 'ca.crt'}: "):
        trust.context()


def test_an_unverifying_context_checks_neither_certificate_nor_name(certs_d):
    context = Trust(REGISTRY, certs_d=certs_d, system_roots=None).context(verify=False)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_cert_and_key_pair_is_the_client_certificate(certs_d):
    directory = certs_d / REGISTRY
    for name in ("client.cert", "client.key", "ca.crt"):
        (directory / name).write_bytes(ca_pem("Registry CA") if name == "ca.crt" else b"not read here")
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=None)
    assert trust.cert == (str(directory / "client.cert"), str(directory / "client.key"))
    assert trust.ca_files == (directory / "ca.crt",)  # the key and cert are not CAs
    with pytest.raises(TrustConfigError, match=f"cannot use the client certificate {directory / 'client.cert'}"):
        trust.context()


def test_several_pairs_are_listed_in_name_order_and_the_first_is_used(certs_d):
    directory = certs_d / REGISTRY
    for name in ("b.cert", "b.key", "a.cert", "a.key"):
        (directory / name).write_bytes(b"")
    pairs = ((directory / "a.cert", directory / "a.key"), (directory / "b.cert", directory / "b.key"))
    assert CertsDir.read(directory).client_certs == pairs
    first = Trust(REGISTRY, certs_d=certs_d, system_roots=None).cert
    assert first == (str(directory / "a.cert"), str(directory / "a.key"))


def test_cert_without_key_fails_like_dockerd(certs_d):
    (certs_d / REGISTRY / "client.cert").write_bytes(b"")
    with pytest.raises(TrustConfigError, match=r"missing key .*client\.key for client certificate .*client\.cert; "
                                               r"CA certificates must use the extension \.crt"):
        Trust(REGISTRY, certs_d=certs_d)


def test_key_without_cert_fails_like_dockerd(certs_d):
    (certs_d / REGISTRY / "client.key").write_bytes(b"")
    with pytest.raises(TrustConfigError, match=r"missing client certificate .*client\.cert for key .*client\.key"):
        Trust(REGISTRY, certs_d=certs_d)


def test_other_files_and_subdirectories_are_ignored(certs_d):
    directory = certs_d / REGISTRY
    (directory / "ca.pem").write_bytes(ca_pem("Not read"))
    (directory / "nested.crt").mkdir()
    assert CertsDir.read(directory) == CertsDir(directory, (), ())


def test_ca_path_replaces_the_certs_d_cas_but_keeps_its_client_certificate(certs_d, tmp_path):
    directory = certs_d / REGISTRY
    for name in ("ca.crt", "client.cert", "client.key"):
        (directory / name).write_bytes(ca_pem("Registry CA"))
    own = tmp_path / "own-ca.pem"
    own.write_bytes(ca_pem("Own CA"))
    trust = Trust(REGISTRY, ca_path=str(own), certs_d=certs_d, system_roots=None)
    assert (trust.ca_files, trust.source) == ((own,), f"ca_path {own}")
    assert trust.cert == (str(directory / "client.cert"), str(directory / "client.key"))
    assert "ca_path must name the CA" in trust.fix


def test_ca_files_lists_what_is_trusted_for_code_that_checks_chains_itself(certs_d, system_roots, tmp_path):
    for name in ("b.crt", "a.crt"):
        (certs_d / REGISTRY / name).write_bytes(ca_pem(f"CA {name}"))
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=system_roots)
    assert trust.ca_files == (system_roots, certs_d / REGISTRY / "a.crt", certs_d / REGISTRY / "b.crt")
    assert trust.certs_dir == certs_d / REGISTRY
    own = tmp_path / "own-ca.pem"
    assert Trust(REGISTRY, ca_path=str(own), certs_d=certs_d, system_roots=system_roots).ca_files == (own,)
    assert Trust("other:5000", certs_d=certs_d, system_roots=None).ca_files == ()


def test_the_fix_names_the_certs_d_file_the_daemon_reads(certs_d):
    trust = Trust(REGISTRY, certs_d=certs_d, system_roots=None)
    assert f"{certs_d / REGISTRY}/ca.crt" in trust.fix


def test_system_ca_bundle_is_the_first_candidate_that_exists(tmp_path):
    present = tmp_path / "second.pem"
    present.write_bytes(b"")
    assert system_ca_bundle((str(tmp_path / "first.pem"), str(present))) == present
    assert system_ca_bundle((str(tmp_path / "none.pem"),)) is None
