"""The probe's verdicts: certificates judged as Go judges them, the first bytes and HTTP answers classified."""

from __future__ import annotations

import datetime
import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.dockyard.registry.plugins.module_utils import _probe as probe
from ansible_collections.dockyard.registry.plugins.module_utils._probe import (
    AddressError,
    certificate_problems,
    chain_to_anchor,
    describe,
    http_verdict,
    name_matches,
    parse_address,
    remedy,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.transport import first_bytes_kind

ROOT = Path(__file__).resolve().parents[4]
NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Authority:
    def __init__(self, common_name: str, issuer: Authority | None = None, ca: bool = True,
                 not_before: datetime.datetime = NOW - 365 * DAY, not_after: datetime.datetime = NOW + 365 * DAY):
        self.key = ec.generate_private_key(ec.SECP256R1())
        signer = issuer or self
        builder = (x509.CertificateBuilder().subject_name(_name(common_name))
                   .issuer_name(signer.certificate.subject if issuer else _name(common_name))
                   .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        self.certificate = builder.sign(signer.key, hashes.SHA256())

    def issue(self, names, common_name: str = "registry", not_before=NOW - DAY, not_after=NOW + 30 * DAY):
        key = ec.generate_private_key(ec.SECP256R1())
        sans = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(self.certificate.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("dockyard test CA")


@pytest.fixture(scope="module")
def other_ca() -> Authority:
    return Authority("other CA")


def verdicts(problems) -> list[str]:
    return [problem.verdict for problem in problems]


# Addresses


@pytest.mark.parametrize(("value", "expected"), [
    ("registry.example.com:5000", ("https", "registry.example.com", 5000, "registry.example.com:5000")),
    ("192.0.2.10:5000", ("https", "192.0.2.10", 5000, "192.0.2.10:5000")),
    ("registry.example.com", ("https", "registry.example.com", 443, "registry.example.com")),
    ("https://registry.example.com:443", ("https", "registry.example.com", 443, "registry.example.com:443")),
    ("http://192.0.2.10:5000", ("http", "192.0.2.10", 5000, "192.0.2.10:5000")),
    ("http://mirror.example.com", ("http", "mirror.example.com", 80, "mirror.example.com:80")),
    ("[2001:db8::1]:5000", ("https", "2001:db8::1", 5000, "[2001:db8::1]:5000")),
    (" Registry.Example.com:5000 ", ("https", "registry.example.com", 5000, "registry.example.com:5000")),
])
def test_parse_address_names_the_registry_as_docker_does(value, expected):
    address = parse_address(value)
    assert (address.scheme, address.host, address.port, address.name) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("", "give the registry's address as host:port"),
    ("ftp://registry:21", "the scheme may only be https:// (the default) or http://"),
    ("registry.example.com:5000/team/app", "give the address without a path"),
    ("registry.example.com:99999", "out of range"),
    ("registry.example.com:http", "registry: 'registry.example.com:http'"),
])
def test_parse_address_rejects_what_is_not_host_port(value, message):
    with pytest.raises(AddressError, match=re.escape(message)):
        parse_address(value)


def test_loopback_addresses_are_recognised():
    assert parse_address("127.0.0.1:5000").is_loopback
    assert parse_address("localhost:5000").is_loopback
    assert parse_address("[::1]:5000").is_loopback
    assert not parse_address("192.0.2.10:5000").is_loopback


# What the server answered


@pytest.mark.parametrize(("data", "kind"), [
    (b"\x16\x03\x03\x00\x7a\x02", "tls"),  # a ServerHello
    (b"\x15\x03\x03\x00\x02\x02\x28", "tls"),  # an alert
    (b"HTTP/1.1 400 Bad Request\r\n", "http"),
    (b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", "http"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "other"),
    (b"\x00\x00", "other"),
])
def test_first_bytes_tell_tls_from_http_from_anything_else(data, kind):
    assert first_bytes_kind(data) == kind


REGISTRY_HEADERS = {"Docker-Distribution-Api-Version": "registry/2.0", "Content-Length": "2"}


@pytest.mark.parametrize(("status", "headers", "body", "scheme", "verdict"), [
    (200, REGISTRY_HEADERS, b"{}", "https", "ok"),
    (200, {"docker-distribution-api-version": "registry/2.0"}, b"{}", "http", "ok"),
    (200, {"Content-Type": "text/html"}, b"<html>", "https", "not_a_registry"),
    (404, {}, b"not found", "https", "not_a_registry"),
    (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"", "https", "auth_required"),
    (400, {}, b"Client sent an HTTP request to an HTTPS server.\n", "http", "https_expected"),
    (400, {}, b"<center>The plain HTTP request was sent to HTTPS port</center>", "http", "https_expected"),
    (400, {}, b"Client sent an HTTP request to an HTTPS server.\n", "https", "not_a_registry"),
    (400, {}, b"bad request", "http", "not_a_registry"),
])
def test_http_verdict(status, headers, body, scheme, verdict):
    assert http_verdict(status, headers, body, scheme) == verdict


# Names


def test_an_ip_address_must_be_an_ip_san(ca):
    assert name_matches("192.0.2.10", ca.issue(["registry.example.com", "192.0.2.10"]))
    assert not name_matches("192.0.2.11", ca.issue(["192.0.2.10"]))
    assert not name_matches("192.0.2.10", ca.issue(["192.0.2.10.example", "registry"]))


def test_a_dns_name_spelling_an_ip_address_does_not_count(ca):
    certificate = ca.issue([])
    dns_only = (x509.CertificateBuilder().subject_name(_name("x")).issuer_name(ca.certificate.subject)
                .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
                .serial_number(1).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("192.0.2.10")]), critical=False)
                .sign(ca.key, hashes.SHA256()))
    assert not name_matches("192.0.2.10", dns_only)
    assert not name_matches("192.0.2.10", certificate)


def test_ipv6_addresses_compare_as_addresses(ca):
    assert name_matches("2001:db8::1", ca.issue(["2001:0db8:0:0::1"]))


def test_dns_names_match_case_insensitively_and_wildcards_cover_one_label(ca):
    certificate = ca.issue(["Registry.Example.com", "*.apps.example.com"])
    assert name_matches("registry.example.com", certificate)
    assert name_matches("registry.example.com.", certificate)
    assert name_matches("team.apps.example.com", certificate)
    assert not name_matches("a.team.apps.example.com", certificate)
    assert not name_matches("apps.example.com", certificate)
    assert not name_matches("other.example.com", certificate)


def test_the_common_name_is_ignored_as_go_ignores_it(ca):
    assert not name_matches("registry.example.com", ca.issue([], common_name="registry.example.com"))


# Chains


def test_a_certificate_signed_by_a_trusted_ca_chains_to_it(ca, other_ca):
    leaf = ca.issue(["registry"])
    assert chain_to_anchor(leaf, [], [other_ca.certificate, ca.certificate]) == [leaf, ca.certificate]


def test_intermediates_the_server_sent_lead_to_the_trusted_root(ca):
    intermediate = Authority("issuing CA", issuer=ca)
    leaf = intermediate.issue(["registry"])
    assert chain_to_anchor(leaf, [intermediate.certificate], [ca.certificate]) == [
        leaf, intermediate.certificate, ca.certificate]
    assert chain_to_anchor(leaf, [], [ca.certificate]) is None  # without the intermediate there is no chain


def test_an_intermediate_that_is_not_a_ca_signs_nothing(ca):
    not_a_ca = Authority("not a CA", issuer=ca, ca=False)
    leaf = not_a_ca.issue(["registry"])
    assert chain_to_anchor(leaf, [not_a_ca.certificate], [ca.certificate]) is None


def test_a_ca_with_the_same_name_but_another_key_does_not_chain(ca):
    impostor = Authority("dockyard test CA")
    assert chain_to_anchor(ca.issue(["registry"]), [], [impostor.certificate]) is None


KEY_MAKERS = {
    "ecdsa": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


@pytest.mark.parametrize("kind", KEY_MAKERS)
def test_signatures_verify_without_verify_directly_issued_by(kind):
    """The path for cryptography before 40 (Debian 12 ships 38): the issuer's key checks the signature itself."""
    key = KEY_MAKERS[kind]()
    certificate = (x509.CertificateBuilder().subject_name(_name("leaf")).issuer_name(_name("issuer"))
                   .public_key(ec.generate_private_key(ec.SECP256R1()).public_key()).serial_number(7)
                   .not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
                   .sign(key, None if kind == "ed25519" else hashes.SHA256()))
    probe.verify_signature(certificate, key.public_key())
    with pytest.raises(InvalidSignature):
        probe.verify_signature(certificate, KEY_MAKERS[kind]().public_key())


def test_a_trusted_self_signed_certificate_is_its_own_chain():
    self_signed = Authority("registry", ca=False).certificate
    assert chain_to_anchor(self_signed, [], [self_signed]) == [self_signed]


# Problems, in the daemon's order


def test_a_good_certificate_has_no_problems(ca):
    leaf = ca.issue(["registry.example.com", "192.0.2.10"])
    assert certificate_problems(leaf, [], [ca.certificate], "192.0.2.10", NOW) == []
    assert certificate_problems(leaf, [], [ca.certificate], "registry.example.com", NOW) == []


def test_unknown_authority(ca, other_ca):
    problems = certificate_problems(ca.issue(["192.0.2.10"]), [], [other_ca.certificate], "192.0.2.10", NOW)
    assert verdicts(problems) == ["unknown_authority"]
    assert problems[0].detail == "the certificate's issuer 'dockyard test CA' is neither a trusted CA nor signed by one"


def test_missing_ip_san(ca):
    problems = certificate_problems(ca.issue(["registry.example.com"]), [], [ca.certificate], "192.0.2.10", NOW)
    assert verdicts(problems) == ["hostname_mismatch"]
    assert problems[0].detail == "the certificate does not name 192.0.2.10: it has no IP SANs"


def test_wrong_dns_name(ca):
    problems = certificate_problems(ca.issue(["a.example.com", "192.0.2.10"]), [], [ca.certificate],
                                    "b.example.com", NOW)
    assert problems[0].detail == "the certificate does not name b.example.com: its DNS SANs are a.example.com"


def test_expired_and_not_yet_valid(ca):
    expired = ca.issue(["192.0.2.10"], not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    future = ca.issue(["192.0.2.10"], not_before=NOW + DAY, not_after=NOW + 30 * DAY)
    assert [(p.verdict, p.detail) for p in certificate_problems(expired, [], [ca.certificate], "192.0.2.10", NOW)] == [
        ("expired", "the certificate expired at 2026-11-26T12:00:00Z")]
    assert [(p.verdict, p.detail) for p in certificate_problems(future, [], [ca.certificate], "192.0.2.10", NOW)] == [
        ("not_yet_valid", "the certificate is valid only from 2026-11-28T12:00:00Z")]


def test_every_problem_is_listed_dates_first_then_name_then_chain(other_ca, ca):
    worst = ca.issue(["registry.example.com"], not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    problems = certificate_problems(worst, [], [other_ca.certificate], "192.0.2.10", NOW)
    assert verdicts(problems) == ["expired", "hostname_mismatch", "unknown_authority"]


def test_a_ca_outside_its_dates_is_an_unknown_authority_not_an_expired_certificate():
    old_ca = Authority("old CA", not_before=NOW - 900 * DAY, not_after=NOW - DAY)
    leaf = old_ca.issue(["192.0.2.10"])
    problems = certificate_problems(leaf, [], [old_ca.certificate], "192.0.2.10", NOW)
    assert verdicts(problems) == ["unknown_authority"]
    assert problems[0].detail == ("the CA 'old CA' that signed it is valid only from 2024-06-10T12:00:00Z "
                                  "to 2026-11-26T12:00:00Z")


def test_describe_returns_subject_sans_and_validity(ca):
    leaf = ca.issue(["registry.example.com", "192.0.2.10"], not_before=NOW - DAY, not_after=NOW + DAY)
    described = describe(leaf)
    assert described["subject"] == "CN=registry"
    assert described["issuer"] == "CN=dockyard test CA"
    assert described["sans"] == ["registry.example.com", "192.0.2.10"]
    assert (described["not_before"], described["not_after"]) == ("2026-11-26T12:00:00Z", "2026-11-28T12:00:00Z")
    assert len(described["sha256_fingerprint"].split(":")) == 32


# Remedies and documentation


def test_every_verdict_but_ok_has_a_one_line_remedy():
    address = parse_address("192.0.2.10:5000")
    for verdict in probe.VERDICTS:
        text = remedy(verdict, address, "/etc/docker/certs.d/192.0.2.10:5000",
                      {"issuer": "CN=x", "sans": ["a"], "not_before": "b", "not_after": "c"}, 10)
        assert (text == "") == (verdict == "ok"), verdict
        assert "\n" not in text


def test_remedies_name_what_to_change():
    address = parse_address("192.0.2.10:5000")
    assert "/etc/docker/certs.d/192.0.2.10:5000/ca.crt" in remedy(
        "unknown_authority", address, "/etc/docker/certs.d/192.0.2.10:5000", {"issuer": "CN=x"})
    assert "192.0.2.10 among its subject alternative names" in remedy("hostname_mismatch", address, "", {"sans": []})
    assert "within 3 seconds" in remedy("timeout", address, timeout=3)
    assert "docker login 192.0.2.10:5000" in remedy("auth_required", address)


def test_the_module_documents_exactly_the_verdicts_there_are():
    source = (ROOT / "plugins" / "modules" / "registry_probe.py").read_text()
    returned = yaml.safe_load(re.search(r'RETURN = r"""(.*?)"""', source, re.DOTALL).group(1))
    assert returned["status"]["choices"] == list(probe.VERDICTS)
    assert set(probe.SUMMARIES) == set(probe.VERDICTS)
    description = " ".join(yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL)
                                          .group(1))["description"])
    for verdict in probe.VERDICTS:
        assert f"V({verdict})" in description, verdict
