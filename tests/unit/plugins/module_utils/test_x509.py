"""A registry's certificates judged as Go's crypto/tls and crypto/x509 judge them: each rule, in Go's words.

The messages are those Go prints (go/src/crypto/x509/verify.go and x509.go); the integration tests check them
against the Docker daemon itself. These tests also run under Debian 12's cryptography 38
(test_x509_under_debian.py), so they use nothing newer.
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from x509_certificates import DAY, Authority, build, key_usage, resign, small_rsa_key

from ansible_collections.dockyard.registry.plugins.module_utils import _x509
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import (
    GoRules,
    go_build_info,
    verify,
    verify_hostname,
)

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)
HOST = "192.0.2.10"
GO_1_17 = GoRules.parse("")
GO_1_19 = GoRules.parse("go1.19.8")  # Debian 12's docker.io
GO_1_20 = GoRules.parse("go1.20.14")
GO_1_22 = GoRules.parse("go1.22.12")
GO_1_24 = GoRules.parse("go1.24.3")
NEWEST = _x509.NEWEST
UNKNOWN = "x509: certificate signed by unknown authority"
CANNOT_SIGN = "x509: invalid signature: parent certificate cannot sign this kind of certificate"
EXPIRED_OR_NOT_YET = "x509: certificate has expired or is not yet valid: "
NOT_AUTHORIZED = "x509: a root or intermediate certificate is not authorized to sign for this name: "
UNHANDLED = "x509: unhandled critical extension"
INCOMPATIBLE = "x509: certificate specifies an incompatible key usage"


def name_matches(host: str, certificate) -> bool:
    return verify_hostname(certificate, host) is None


def hint(error: str, candidate: str) -> str:
    return f'{UNKNOWN} (possibly because of "{error}" while trying to verify candidate authority certificate "{candidate}")'


def judged(leaf, intermediates=(), roots=(), host=HOST, rules=GO_1_19, now=NOW) -> list[tuple[str, str]]:
    failures = verify(leaf, list(intermediates), list(roots), host, now, rules)
    return [(failure.reason, failure.message) for failure in failures]


@pytest.fixture(scope="module")
def root() -> Authority:
    return Authority("dockyard test CA", now=NOW)


@pytest.fixture(scope="module")
def rsa_root() -> Authority:
    return Authority("dockyard RSA CA", now=NOW, key=rsa.generate_private_key(65537, 2048))


def test_a_certificate_from_a_trusted_ca_naming_the_address_passes(root):
    leaf = root.issue([HOST, "registry.example.com"])
    for rules in (GO_1_17, GO_1_19, GO_1_20, GO_1_24, NEWEST):
        assert judged(leaf, roots=[root.certificate], rules=rules) == []
    assert judged(leaf, roots=[root.certificate], host="registry.example.com") == []


def test_intermediates_the_server_sent_lead_to_the_trusted_root(root):
    intermediate = Authority("issuing CA", root, now=NOW)
    leaf = intermediate.issue([HOST])
    assert judged(leaf, [intermediate.certificate], [root.certificate]) == []
    assert judged(leaf, [], [root.certificate]) == [("unknown_authority", UNKNOWN)]


KEY_MAKERS = {
    "rsa": (lambda: rsa.generate_private_key(65537, 2048), "crypto/rsa: verification error"),
    "ecdsa": (lambda: ec.generate_private_key(ec.SECP384R1()), "x509: ECDSA verification failure"),
    "ed25519": (ed25519.Ed25519PrivateKey.generate, "x509: Ed25519 verification failure"),
}


@pytest.mark.parametrize("kind", KEY_MAKERS)
def test_signatures_are_checked_with_the_issuers_key(kind):
    """One code path for every cryptography: the issuer's public key checks the signature itself."""
    make_key, error = KEY_MAKERS[kind]
    genuine, impostor = Authority("same name", now=NOW, key=make_key()), Authority("same name", now=NOW, key=make_key())
    leaf = genuine.issue([HOST])
    assert judged(leaf, roots=[genuine.certificate]) == []
    assert judged(leaf, roots=[impostor.certificate]) == [("unknown_authority", hint(error, "same name"))]


# Dates: the leaf first; a CA outside its dates is reported the same way, not as an unknown authority


def test_an_expired_leaf_and_one_not_yet_valid(root):
    expired = root.issue([HOST], not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    future = root.issue([HOST], not_before=NOW + DAY, not_after=NOW + 30 * DAY)
    assert judged(expired, roots=[root.certificate]) == [
        ("expired", EXPIRED_OR_NOT_YET + "current time 2026-11-27T12:00:00Z is after 2026-11-26T12:00:00Z")]
    assert judged(future, roots=[root.certificate]) == [
        ("not_yet_valid", EXPIRED_OR_NOT_YET + "current time 2026-11-27T12:00:00Z is before 2026-11-28T12:00:00Z")]


def test_the_current_time_is_printed_in_the_daemons_time_zone(root):
    expired = root.issue([HOST], not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    local = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert judged(expired, roots=[root.certificate], now=local)[0][1] == (
        EXPIRED_OR_NOT_YET + "current time 2026-11-27T13:00:00+01:00 is after 2026-11-26T12:00:00Z")


@pytest.mark.parametrize("where", ["root", "intermediate"])
def test_a_ca_outside_its_dates_is_what_the_daemon_reports(root, where):
    old = {"not_before": NOW - 900 * DAY, "not_after": NOW - DAY}
    if where == "root":
        ca = Authority("old CA", now=NOW, **old)
        leaf, intermediates, roots = ca.issue([HOST]), [], [ca.certificate]
    else:
        ca = Authority("old CA", root, now=NOW, **old)
        leaf, intermediates, roots = ca.issue([HOST]), [ca.certificate], [root.certificate]
    failures = verify(leaf, intermediates, roots, HOST, NOW, GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("expired", EXPIRED_OR_NOT_YET + "current time 2026-11-27T12:00:00Z is after 2026-11-26T12:00:00Z")]
    assert failures[0].explanation == "the CA 'old CA' in its chain expired at 2026-11-26T12:00:00Z"
    assert failures[0].fix.startswith("Renew the CA 'old CA' (valid until 2026-11-26T12:00:00Z)")


def test_a_ca_not_yet_valid(root):
    ca = Authority("future CA", now=NOW, not_before=NOW + DAY, not_after=NOW + 900 * DAY)
    failures = verify(ca.issue([HOST]), [], [ca.certificate], HOST, NOW, GO_1_19)
    assert [failure.reason for failure in failures] == ["not_yet_valid"]
    assert failures[0].explanation == "the CA 'future CA' is valid only from 2026-11-28T12:00:00Z"


# Names: the SANs, never the common name


@pytest.mark.parametrize(("names", "host", "message"), [
    (["registry.example.com"], HOST,
     f"x509: cannot validate certificate for {HOST} because it doesn't contain any IP SANs"),
    (["192.0.2.11", "2001:db8::1"], HOST, f"x509: certificate is valid for 192.0.2.11, 2001:db8::1, not {HOST}"),
    (["a.example.com", "b.example.com"], "c.example.com",
     "x509: certificate is valid for a.example.com, b.example.com, not c.example.com"),
    ([HOST], "registry.example.com",
     "x509: certificate is not valid for any names, but wanted to match registry.example.com"),
])
def test_a_name_the_certificate_lacks(root, names, host, message):
    assert judged(root.issue(names), roots=[root.certificate], host=host) == [("hostname", message)]


def test_a_common_name_alone_is_legacy(root):
    assert judged(root.issue([], common_name=HOST), roots=[root.certificate]) == [
        ("hostname", "x509: certificate relies on legacy Common Name field, use SANs instead")]


def test_an_ip_address_must_be_an_ip_san(root):
    assert name_matches(HOST, root.issue(["registry.example.com", HOST]))
    assert not name_matches("192.0.2.11", root.issue([HOST]))
    assert not name_matches(HOST, root.issue(["192.0.2.10.example", "registry", HOST + ".nip"]))
    assert not name_matches(HOST, root.issue([], common_name=HOST))


def test_ip_addresses_compare_as_addresses(root):
    assert name_matches("2001:db8::1", root.issue(["2001:0db8:0:0::1"]))
    assert name_matches("[2001:db8::1]", root.issue(["2001:db8::1"]))
    assert name_matches(HOST, root.issue([f"::ffff:{HOST}"]))  # Go's net.IP.Equal


def test_names_match_case_insensitively_and_wildcards_cover_one_label(root):
    certificate = root.issue(["Registry.Example.com", "*.apps.example.com"])
    assert name_matches("registry.example.com", certificate)
    assert name_matches("registry.example.com.", certificate)
    assert name_matches("team.apps.example.com", certificate)
    assert not name_matches("a.team.apps.example.com", certificate)
    assert not name_matches("apps.example.com", certificate)
    assert not name_matches("other.example.com", certificate)


def test_a_san_with_a_trailing_dot_matches_only_itself(root):
    certificate = root.issue(["registry.example.com."])  # not a valid pattern for Go: compared exactly
    assert not name_matches("registry.example.com", certificate)
    assert name_matches("registry.example.com.", certificate)


# Issuers: a CA, allowed to sign certificates


def test_an_unknown_issuer(root):
    failures = verify(Authority("stranger CA", now=NOW).issue([HOST]), [], [root.certificate], HOST, NOW)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("unknown_authority", "tls: failed to verify certificate: " + UNKNOWN)]
    assert failures[0].explanation == "the certificate's issuer 'stranger CA' is neither a trusted CA nor signed by one"


def test_an_intermediate_without_ca_true_cannot_sign(root):
    not_a_ca = Authority("not a CA", root, now=NOW, ca=False)
    failures = verify(not_a_ca.issue([HOST]), [not_a_ca.certificate], [root.certificate], HOST, NOW, GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("unknown_authority", hint(CANNOT_SIGN, "not a CA"))]
    assert "may not sign certificates: it has no basic constraints with CA:TRUE" in failures[0].explanation


@pytest.mark.parametrize("where", ["root", "intermediate"])
def test_a_ca_without_basic_constraints_cannot_sign(root, where):
    if where == "root":
        ca = Authority("bare CA", now=NOW, ca=None)
        leaf, intermediates, roots = ca.issue([HOST]), [], [ca.certificate]
    else:
        ca = Authority("bare CA", root, now=NOW, ca=None)
        leaf, intermediates, roots = ca.issue([HOST]), [ca.certificate], [root.certificate]
    assert judged(leaf, intermediates, roots) == [("unknown_authority", hint(CANNOT_SIGN, "bare CA"))]


def test_a_ca_whose_key_usage_lacks_key_cert_sign_cannot_sign():
    ca = Authority("signing CA", now=NOW, usage=key_usage("digital_signature", "crl_sign"))
    failures = verify(ca.issue([HOST]), [], [ca.certificate], HOST, NOW, GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("unknown_authority", hint(CANNOT_SIGN, "signing CA"))]
    assert failures[0].fix == "Reissue the CA 'signing CA' with keyCertSign in its key usage."
    good = Authority("good CA", now=NOW, usage=key_usage("key_cert_sign", "crl_sign"))
    assert judged(good.issue([HOST]), roots=[good.certificate]) == []


def test_the_leafs_key_usage_is_ignored(root):
    leaf = root.issue([HOST], usage=key_usage("data_encipherment"))
    assert judged(leaf, roots=[root.certificate]) == []


def test_a_version_1_intermediate_is_not_authorized_to_sign(rsa_root):
    key = ec.generate_private_key(ec.SECP256R1())
    intermediate = Authority("v1 CA", rsa_root, now=NOW, key=key, ca=None)
    intermediate.certificate = resign(intermediate.certificate, rsa_root.key, "sha256-rsa", version1=True)
    leaf = intermediate.issue([HOST])
    assert judged(leaf, [intermediate.certificate], [rsa_root.certificate]) == [
        ("not_authorized_to_sign", "x509: certificate is not authorized to sign other certificates")]


def test_a_version_1_root_is_a_ca():
    key = rsa.generate_private_key(65537, 2048)
    old_root = Authority("v1 root", now=NOW, key=key, ca=None)
    old_root.certificate = resign(old_root.certificate, key, "sha256-rsa", version1=True)
    assert old_root.certificate.version == x509.Version.v1
    assert judged(old_root.issue([HOST]), roots=[old_root.certificate]) == []


def test_a_trusted_self_signed_leaf_is_its_own_chain():
    key = ec.generate_private_key(ec.SECP256R1())
    self_signed = Authority("registry", now=NOW, key=key, ca=False, sans=[HOST]).certificate
    assert judged(self_signed, roots=[self_signed]) == []


def test_the_path_length_of_a_ca_limits_the_intermediates_below_it():
    strict = Authority("strict CA", now=NOW, path_length=0)
    intermediate = Authority("issuing CA", strict, now=NOW)
    assert judged(intermediate.issue([HOST]), [intermediate.certificate], [strict.certificate]) == [
        ("too_many_intermediates", "x509: too many intermediates for path length constraint")]
    loose = Authority("loose CA", now=NOW, path_length=1)
    intermediate = Authority("issuing CA", loose, now=NOW)
    assert judged(intermediate.issue([HOST]), [intermediate.certificate], [loose.certificate]) == []


# Extended key usage: every certificate that lists usages must allow server authentication


@pytest.mark.parametrize(("usages", "accepted"), [
    ([ExtendedKeyUsageOID.SERVER_AUTH], True),
    ([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH], True),
    ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], True),
    ([ExtendedKeyUsageOID.CLIENT_AUTH], False),
    ([x509.ObjectIdentifier("1.3.6.1.4.1.55555.7")], False),
])
def test_the_leafs_extended_key_usage(root, usages, accepted):
    result = judged(root.issue([HOST], extended_usage=usages), roots=[root.certificate])
    assert result == ([] if accepted else [("incompatible_usage", INCOMPATIBLE)])


def test_an_intermediates_extended_key_usage_constrains_the_leaf(root):
    client_only = Authority("client CA", root, now=NOW, extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    leaf = client_only.issue([HOST], extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    failures = verify(leaf, [client_only.certificate], [root.certificate], HOST, NOW, GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [("incompatible_usage", INCOMPATIBLE)]
    assert failures[0].explanation == "the extended key usage of the CA 'client CA' lacks serverAuth (it lists: clientAuth)"
    server = Authority("server CA", root, now=NOW, extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert judged(server.issue([HOST]), [server.certificate], [root.certificate]) == []


# Name constraints: every name of the leaf, not only the one addressed


def test_a_name_outside_the_permitted_subtrees(root):
    constrained = Authority("constrained CA", now=NOW, permitted=["example.com", "10.0.0.0/8"])
    failures = verify(constrained.issue([HOST, "registry.example.com"]), [], [constrained.certificate], HOST, NOW,
                      GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("name_not_permitted", NOT_AUTHORIZED + f'IP address "{HOST}" is not permitted by any constraint')]
    assert failures[0].explanation == (f"the CA 'constrained CA' may not certify the IP address {HOST} of the "
                                       "certificate (its name constraints permit only 10.0.0.0/8)")


def test_a_name_in_the_excluded_subtrees(root):
    constrained = Authority("constrained CA", now=NOW, excluded=[f"{HOST}/32"])
    assert judged(constrained.issue([HOST]), roots=[constrained.certificate]) == [
        ("name_not_permitted", NOT_AUTHORIZED + f'IP address "{HOST}" is excluded by constraint "{HOST}/32"')]


def test_every_name_of_the_leaf_is_checked_not_only_the_address(root):
    constrained = Authority("constrained CA", now=NOW, permitted=["example.com"])
    assert judged(constrained.issue([HOST, "registry.example.net"]), roots=[constrained.certificate]) == [
        ("name_not_permitted", NOT_AUTHORIZED + 'DNS name "registry.example.net" is not permitted by any constraint')]
    assert judged(constrained.issue([HOST, "registry.example.com"]), roots=[constrained.certificate]) == []


@pytest.mark.parametrize(("constraint", "name", "permitted"), [
    ("example.com", "example.com", True),
    ("example.com", "a.b.example.com", True),
    ("example.com", "badexample.com", False),
    (".example.com", "example.com", False),
    (".example.com", "a.example.com", True),
    ("EXAMPLE.com", "registry.Example.COM", True),
])
def test_dns_constraints_follow_go(constraint, name, permitted):
    constrained = Authority("constrained CA", now=NOW, permitted=[constraint])
    result = judged(constrained.issue([name]), roots=[constrained.certificate], host=name)
    assert (result == []) is permitted, result


def test_name_constraints_of_an_intermediate_apply_to_its_own_names_only_in_go_1_19_and_1_20(root):
    constrained = Authority("constrained CA", root, now=NOW, permitted=["example.com"], sans=["ca.example.net"])
    leaf = constrained.issue(["registry.example.com"])
    for rules in (GO_1_19, GO_1_20):
        assert judged(leaf, [constrained.certificate], [root.certificate], "registry.example.com", rules)[0] == (
            "name_not_permitted", rules.wrap(NOT_AUTHORIZED + 'DNS name "ca.example.net" is not permitted by any '
                                             "constraint"))
    for rules in (GO_1_17, GO_1_22, NEWEST):
        assert judged(leaf, [constrained.certificate], [root.certificate], "registry.example.com", rules) == []


def test_a_leaf_without_sans_passes_the_constraints():
    constrained = Authority("constrained CA", now=NOW, permitted=["example.com"])
    leaf = constrained.issue([], common_name=HOST)  # refused for its name alone, as Go does
    assert [reason for reason, _message in judged(leaf, roots=[constrained.certificate])] == ["hostname"]


# Critical extensions Go does not handle


UNKNOWN_EXTENSION = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
POLICY_CONSTRAINTS = x509.PolicyConstraints(require_explicit_policy=None, inhibit_policy_mapping=0)


def test_an_unknown_critical_extension_on_the_leaf(root):
    failures = verify(root.issue([HOST], extensions=[(UNKNOWN_EXTENSION, True)]), [], [root.certificate], HOST, NOW,
                      GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [("unhandled_critical_extension", UNHANDLED)]
    assert failures[0].explanation == ("the certificate has a critical extension the daemon does not handle: "
                                       "1.3.6.1.4.1.55555.1")
    assert judged(root.issue([HOST], extensions=[(UNKNOWN_EXTENSION, False)]), roots=[root.certificate]) == []


def test_an_unknown_critical_extension_on_the_ca():
    ca = Authority("odd CA", now=NOW, extensions=[(UNKNOWN_EXTENSION, True)])
    assert judged(ca.issue([HOST]), roots=[ca.certificate]) == [("unhandled_critical_extension", UNHANDLED)]


def test_policy_constraints_are_handled_from_go_1_24_on():
    ca = Authority("policy CA", now=NOW, extensions=[(POLICY_CONSTRAINTS, True)])
    assert judged(ca.issue([HOST]), roots=[ca.certificate], rules=GO_1_22) == [
        ("unhandled_critical_extension", "tls: failed to verify certificate: " + UNHANDLED)]
    assert judged(ca.issue([HOST]), roots=[ca.certificate], rules=GO_1_24) == []


def test_critical_name_constraints_of_a_kind_go_does_not_know():
    directory = x509.DirectoryName(x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "dockyard")]))
    ca = Authority("directory CA", now=NOW, extensions=[(x509.NameConstraints([directory], None), True)])
    assert judged(ca.issue([HOST]), roots=[ca.certificate]) == [("unhandled_critical_extension", UNHANDLED)]


# Signature algorithms and keys, by Go version


SHA1_HINT = "x509: cannot verify signature: insecure algorithm SHA1-RSA (temporarily override with GODEBUG=x509sha1=1)"


def test_sha1_signatures_are_refused_from_go_1_18_on(rsa_root):
    leaf = resign(rsa_root.issue([HOST]), rsa_root.key, "sha1-rsa")
    failures = verify(leaf, [], [rsa_root.certificate], HOST, NOW, GO_1_19)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("unknown_authority", hint(SHA1_HINT, "dockyard RSA CA"))]
    assert failures[0].explanation == "the certificate is signed with SHA1-RSA, an algorithm Go 1.19.8 refuses"
    assert judged(leaf, roots=[rsa_root.certificate], rules=GO_1_17) == []
    assert judged(leaf, roots=[rsa_root.certificate], rules=GoRules.parse("go1.19.8", "x509sha1=1")) == []
    assert judged(leaf, roots=[rsa_root.certificate], rules=GoRules.parse("go1.24.3", "x509sha1=1")) == [
        ("unknown_authority", "tls: failed to verify certificate: " + hint(
            "x509: cannot verify signature: insecure algorithm SHA1-RSA", "dockyard RSA CA"))]


def test_an_intermediate_signed_with_sha1(rsa_root):
    key = rsa.generate_private_key(65537, 2048)
    intermediate = Authority("sha1 CA", rsa_root, now=NOW, key=key)
    intermediate.certificate = resign(intermediate.certificate, rsa_root.key, "sha1-rsa")
    assert judged(intermediate.issue([HOST]), [intermediate.certificate], [rsa_root.certificate]) == [
        ("unknown_authority", hint(SHA1_HINT, "dockyard RSA CA"))]


def test_ecdsa_with_sha1_is_refused_too(root):
    leaf = resign(root.issue([HOST]), root.key, "ecdsa-sha1")
    assert judged(leaf, roots=[root.certificate]) == [("unknown_authority", hint(
        "x509: cannot verify signature: insecure algorithm ECDSA-SHA1 (temporarily override with GODEBUG=x509sha1=1)",
        "dockyard test CA"))]


def test_md5_signatures_are_refused_by_every_go(rsa_root):
    leaf = resign(rsa_root.issue([HOST]), rsa_root.key, "md5-rsa")
    for rules in (GO_1_17, GO_1_19):
        assert judged(leaf, roots=[rsa_root.certificate], rules=rules) == [
            ("unknown_authority", hint("x509: cannot verify signature: insecure algorithm MD5-RSA", "dockyard RSA CA"))]


@pytest.mark.parametrize(("algorithm", "accepted"), [("sha256-rsapss", True), ("sha256-rsapss-salt16", False),
                                                     ("sha224-rsa", False)])
def test_signature_algorithms_go_does_not_implement(rsa_root, algorithm, accepted):
    leaf = resign(rsa_root.issue([HOST]), rsa_root.key, algorithm)
    expected = [] if accepted else [("unknown_authority", hint(
        "x509: cannot verify signature: algorithm unimplemented", "dockyard RSA CA"))]
    assert judged(leaf, roots=[rsa_root.certificate]) == expected


@pytest.fixture(scope="module")
def weak_key() -> rsa.RSAPrivateKey:
    return small_rsa_key(768)


def test_a_ca_with_an_rsa_key_under_1024_bits(weak_key):
    weak = Authority("weak CA", now=NOW, key=weak_key)
    leaf = weak.issue([HOST])
    assert judged(leaf, roots=[weak.certificate], rules=GO_1_19) == []
    failures = verify(leaf, [], [weak.certificate], HOST, NOW, GO_1_24)
    assert [(failure.reason, failure.message) for failure in failures] == [
        ("unknown_authority", "tls: failed to verify certificate: " + hint(
            "crypto/rsa: 768-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)",
            "weak CA"))]
    assert failures[0].explanation == ("the CA 'weak CA', the issuer of the certificate, has a 768-bit RSA key, and "
                                       "Go 1.24.3 refuses RSA keys under 1024 bits")
    assert judged(leaf, roots=[weak.certificate], rules=GoRules.parse("go1.24.3", "rsa1024min=0")) == []


def test_a_leaf_with_an_rsa_key_under_1024_bits_cannot_sign_the_handshake(root, weak_key):
    leaf = root.issue([HOST], key=weak_key)
    assert judged(leaf, roots=[root.certificate], rules=GO_1_19) == []
    assert judged(leaf, roots=[root.certificate], rules=GO_1_24) == [
        ("rsa_key_too_small", ("tls: invalid signature by the server certificate: crypto/rsa: 768-bit keys are "
                               "insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)"))]


def test_rsa_keys_over_8192_bits_are_refused_from_go_1_19_12_on(root):
    # Only the public key matters here: a modulus of 8200 bits, which crypto/tls refuses before verifying anything.
    huge = rsa.RSAPublicNumbers(65537, (1 << 8199) | 0xABCDEF1).public_key()
    leaf = build("registry", ec.generate_private_key(ec.SECP256R1()), root, now=NOW, sans=[HOST])
    leaf = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(leaf.issuer).public_key(huge)
            .serial_number(7).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
            .add_extension(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, critical=False)
            .sign(root.key, hashes.SHA256()))
    assert judged(leaf, roots=[root.certificate], rules=GO_1_19) == []
    for rules in (GoRules.parse("go1.19.12"), GoRules.parse("go1.20.7"), NEWEST):
        assert judged(leaf, roots=[root.certificate], rules=rules) == [
            ("rsa_key_too_large", "tls: server sent certificate containing RSA key larger than 8192 bits")]
    assert judged(leaf, roots=[root.certificate], rules=GoRules.parse("go1.22.0", "tlsmaxrsasize=16384")) == []


def test_a_key_on_a_curve_go_does_not_read(root):
    leaf = root.issue([HOST], key=ec.generate_private_key(ec.SECP256K1()))
    assert judged(leaf, roots=[root.certificate]) == [
        ("unparsable", "tls: failed to parse certificate from server: x509: unsupported elliptic curve")]
    odd_root = Authority("odd curve CA", now=NOW, key=ec.generate_private_key(ec.SECP256K1()))
    assert judged(odd_root.issue([HOST]), roots=[odd_root.certificate]) == [("unknown_authority", UNKNOWN)]


# Order: what the daemon reports first comes first, every problem after it


def test_every_problem_in_go_order(root):
    stranger = Authority("stranger CA", now=NOW)
    worst = stranger.issue(["registry.example.com"], not_before=NOW - 30 * DAY, not_after=NOW - DAY,
                           extensions=[(UNKNOWN_EXTENSION, True)], extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert [reason for reason, _message in judged(worst, roots=[root.certificate])] == [
        "unhandled_critical_extension", "expired", "hostname", "unknown_authority"]


def test_from_go_1_20_on_verification_errors_say_so(root):
    leaf = root.issue(["registry.example.com"])
    assert judged(leaf, roots=[root.certificate], rules=GO_1_19)[0][1].startswith("x509: cannot validate")
    assert judged(leaf, roots=[root.certificate], rules=GO_1_20)[0][1].startswith(
        "tls: failed to verify certificate: x509: cannot validate")


# Which Go


def build_info(version: str, modinfo: str, inline: bool = True) -> bytes:
    def varint_string(text: str) -> bytes:
        data, size, prefix = text.encode(), len(text.encode()), b""
        while True:
            prefix += bytes([(size & 0x7F) | (0x80 if size > 0x7F else 0)])
            size >>= 7
            if not size:
                return prefix + data
    header = b"\xff Go buildinf:" + bytes([8, 2 if inline else 0]) + bytes(16)
    return b"\x00" * 48 + header + varint_string(version) + varint_string(modinfo) + b"\x00" * 16


def test_the_go_version_and_default_godebug_come_from_the_binarys_build_information():
    modinfo = "path\tgithub.com/docker/docker/cmd/dockerd\nbuild\tDefaultGODEBUG=rsa1024min=0,x509negativeserial=1\n"
    assert go_build_info(build_info("go1.24.3", modinfo + "x" * 300)) == ("go1.24.3", "rsa1024min=0,x509negativeserial=1")
    assert go_build_info(build_info("go1.19.8", "path\tx\n")) == ("go1.19.8", "")
    assert go_build_info(build_info("", "", inline=False)) == ("", "")  # Go 1.17 and older point elsewhere
    assert go_build_info(b"\x00" * 64) is None
    assert go_build_info(b"\x00" * 7 + b"\xff Go buildinf:" + b"\x00" * 40) is None  # not 16-byte aligned


@pytest.mark.skipif(not shutil.which("dockerd", path="/usr/sbin:/usr/bin:/usr/local/bin"),
                    reason="no dockerd binary on this machine")
def test_an_elf_binary_is_read_at_its_go_buildinfo_section_and_says_what_a_search_finds():
    """This machine's dockerd (make test installs it): the section table leads to the same build information as a
    search through the whole binary, which a copy that is no longer ELF falls back to."""
    binary = Path(shutil.which("dockerd", path="/usr/sbin:/usr/bin:/usr/local/bin")).read_bytes()
    offset, size = _x509._elf_section(binary, b".go.buildinfo")
    assert binary[offset:offset + 14] == b"\xff Go buildinf:" and size >= 32
    not_elf = b"\x00" + binary[1:]
    assert _x509._elf_section(not_elf, b".go.buildinfo") is None
    assert go_build_info(binary) == go_build_info(not_elf)
    assert go_build_info(binary)[0].startswith("go1.")
    assert _x509._elf_section(binary[:64], b".go.buildinfo") is None, "a truncated file has no section table"


def test_godebug_from_the_environment_overrides_the_binarys_default():
    rules = GoRules.parse("go1.24.3", "rsa1024min=0", "rsa1024min=1")
    assert rules.rsa_minimum == 1024
    assert GoRules.parse("go1.24.3", "rsa1024min=0").rsa_minimum == 0
    assert GoRules.parse("devel go1.25-abcdef").version == (1, 25, 0)
    assert (GO_1_17.name, GO_1_19.name, NEWEST.name) == ("Go 1.17 or older", "Go 1.19.8", "the newest Go")
