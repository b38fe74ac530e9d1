"""The probe's verdicts: certificates judged as Go judges them, the first bytes and HTTP answers classified."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import yaml
from cryptography.x509.oid import ExtendedKeyUsageOID
from x509_certificates import DAY, Authority

from ansible_collections.dockyard.registry.plugins.module_utils import _verdicts, _x509
from ansible_collections.dockyard.registry.plugins.module_utils._names import parse_address
from ansible_collections.dockyard.registry.plugins.module_utils._registry.transport import first_bytes_kind
from ansible_collections.dockyard.registry.plugins.module_utils._verdicts import (
    certificate_problems,
    describe,
    http_verdict,
    remedy,
)

ROOT = Path(__file__).resolve().parents[4]
NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)
GO_1_19 = _x509.GoRules.parse("go1.19.8")


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("dockyard test CA", now=NOW)


@pytest.fixture(scope="module")
def other_ca() -> Authority:
    return Authority("other CA", now=NOW)


def verdicts(problems) -> list[str]:
    return [problem.verdict for problem in problems]


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


# Problems, in the daemon's order


def test_a_good_certificate_has_no_problems(ca):
    leaf = ca.issue(["registry.example.com", "192.0.2.10"])
    assert certificate_problems(leaf, [], [ca.certificate], "192.0.2.10", NOW) == []
    assert certificate_problems(leaf, [], [ca.certificate], "registry.example.com", NOW) == []


def test_unknown_authority(ca, other_ca):
    problems = certificate_problems(ca.issue(["192.0.2.10"]), [], [other_ca.certificate], "192.0.2.10", NOW, GO_1_19)
    assert verdicts(problems) == ["unknown_authority"]
    assert problems[0].detail == ("the certificate's issuer 'dockyard test CA' is neither a trusted CA nor signed by "
                                  "one (x509: certificate signed by unknown authority)")


def test_missing_ip_san(ca):
    problems = certificate_problems(ca.issue(["registry.example.com"]), [], [ca.certificate], "192.0.2.10", NOW,
                                    GO_1_19)
    assert verdicts(problems) == ["hostname_mismatch"]
    assert problems[0].detail == ("the certificate does not name 192.0.2.10: it has no IP SANs (x509: cannot validate "
                                  "certificate for 192.0.2.10 because it doesn't contain any IP SANs)")


def test_wrong_dns_name(ca):
    problems = certificate_problems(ca.issue(["a.example.com", "192.0.2.10"]), [], [ca.certificate],
                                    "b.example.com", NOW)
    assert problems[0].detail == ("the certificate does not name b.example.com: its DNS SANs are a.example.com (tls: "
                                  "failed to verify certificate: x509: certificate is valid for a.example.com, not "
                                  "b.example.com)")


def test_expired_and_not_yet_valid(ca):
    expired = ca.issue(["192.0.2.10"], not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    future = ca.issue(["192.0.2.10"], not_before=NOW + DAY, not_after=NOW + 30 * DAY)
    assert [(p.verdict, p.detail) for p in certificate_problems(expired, [], [ca.certificate], "192.0.2.10", NOW,
                                                                GO_1_19)] == [
        ("expired", ("the certificate expired at 2026-11-26T12:00:00Z (x509: certificate has expired or is not yet "
                     "valid: current time 2026-11-27T12:00:00Z is after 2026-11-26T12:00:00Z)"))]
    assert [(p.verdict, p.detail) for p in certificate_problems(future, [], [ca.certificate], "192.0.2.10", NOW,
                                                                GO_1_19)] == [
        ("not_yet_valid", ("the certificate is valid only from 2026-11-28T12:00:00Z (x509: certificate has expired or "
                           "is not yet valid: current time 2026-11-27T12:00:00Z is before 2026-11-28T12:00:00Z)"))]


def test_every_problem_is_listed_dates_first_then_name_then_chain(other_ca, ca):
    worst = ca.issue(["registry.example.com"], not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    problems = certificate_problems(worst, [], [other_ca.certificate], "192.0.2.10", NOW)
    assert verdicts(problems) == ["expired", "hostname_mismatch", "unknown_authority"]


def test_a_ca_outside_its_dates_is_expired_as_the_daemon_says_with_its_own_remedy():
    old_ca = Authority("old CA", now=NOW, not_before=NOW - 900 * DAY, not_after=NOW - DAY)
    leaf = old_ca.issue(["192.0.2.10"])
    problems = certificate_problems(leaf, [], [old_ca.certificate], "192.0.2.10", NOW, GO_1_19)
    assert verdicts(problems) == ["expired"]
    assert problems[0].detail == ("the CA 'old CA' in its chain expired at 2026-11-26T12:00:00Z (x509: certificate "
                                  "has expired or is not yet valid: current time 2026-11-27T12:00:00Z is after "
                                  "2026-11-26T12:00:00Z)")
    assert remedy("expired", parse_address("192.0.2.10:5000"), fix=problems[0].fix).startswith(
        "Renew the CA 'old CA' (valid until 2026-11-26T12:00:00Z) and put the new one in certs.d on every Docker host.")


def test_what_go_refuses_beyond_dates_names_and_trust_is_an_invalid_certificate(ca):
    client_only = ca.issue(["192.0.2.10"], extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    problems = certificate_problems(client_only, [], [ca.certificate], "192.0.2.10", NOW, GO_1_19)
    assert [(p.verdict, p.detail) for p in problems] == [
        ("invalid_certificate", ("the extended key usage of the certificate lacks serverAuth (it lists: clientAuth) "
                                 "(x509: certificate specifies an incompatible key usage)"))]
    assert remedy("invalid_certificate", parse_address("192.0.2.10:5000"), fix=problems[0].fix) == (
        "Reissue the certificate with serverAuth in its extended key usage, or without that extension. The "
        "certificates the dockyard.registry.site playbook issues pass every check of the daemon.")


def test_every_reason_of_go_has_a_verdict():
    reasons = {value for name, value in vars(_x509).items() if name.isupper() and isinstance(value, str)
               and name == value.upper()}
    assert {_verdicts._VERDICT_OF_REASON.get(reason, _verdicts.INVALID_CERTIFICATE) for reason in reasons} == set(
        _verdicts.CERTIFICATE_VERDICTS)


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
    for verdict in _verdicts.SUMMARIES:
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
    assert returned["status"]["choices"] == list(_verdicts.SUMMARIES)
    # Every verdict the code names (a constant spelling its value) has a summary, a remedy and a place in the
    # troubleshooting guide's first paragraph.
    named = {value for name, value in vars(_verdicts).items() if isinstance(value, str) and name == value.upper()}
    assert named == set(_verdicts.SUMMARIES)
    troubleshooting = (ROOT / "docs" / "guides" / "troubleshooting.md").read_text().split("\n\n", 2)[1]
    for verdict in _verdicts.SUMMARIES:
        assert f"`{verdict}`" in troubleshooting, verdict
    description = " ".join(yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL)
                                          .group(1))["description"])
    for verdict in _verdicts.SUMMARIES:
        assert f"V({verdict})" in description, verdict
