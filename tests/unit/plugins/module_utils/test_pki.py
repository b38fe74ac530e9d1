"""_pki: what the controller's CA signs, and what it refuses to sign."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki

COMPUTED = ["DNS:replica1", "DNS:replica1.example.com", "IP:192.0.2.11", "DNS:registry.example.com"]


def request(sans, subject="replica1"):
    """A request signed with a new key, asking for ``sans`` (GeneralNames or entries) under ``subject``."""
    names = [pki._general_name(entry) if isinstance(entry, str) else entry for entry in sans]
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))


def with_broken_signature(csr):
    """The same request with the last byte of its signature changed: it still parses, but does not verify."""
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_csr(bytes(der))


def test_san_difference_names_what_was_asked_beyond_and_what_is_missing():
    asked = ["DNS:Replica1", "IP:192.0.2.11", "DNS:evil.example.com"]
    assert pki.san_difference(asked, COMPUTED) == (
        ["DNS:evil.example.com"], ["DNS:replica1.example.com", "DNS:registry.example.com"])


def test_san_difference_of_the_same_names_in_another_order_and_case_is_empty():
    assert pki.san_difference(list(reversed([entry.upper() if entry.startswith("DNS") else entry
                                             for entry in COMPUTED])), COMPUTED) == ([], [])


def test_a_request_for_exactly_the_computed_names_is_accepted():
    assert pki.request_refusal(pki.certificate_request(ec.generate_private_key(ec.SECP256R1()), COMPUTED),
                               COMPUTED) is None


def test_a_request_for_a_name_beyond_those_computed_is_refused_naming_it():
    refusal = pki.request_refusal(request([*COMPUTED, "DNS:bank.example.com"]), COMPUTED)
    assert refusal == "it asks for DNS:bank.example.com, which the controller did not compute for the host"


def test_a_request_lacking_a_computed_name_is_refused_naming_it():
    refusal = pki.request_refusal(request(COMPUTED[:2]), COMPUTED)
    assert refusal == ("it lacks IP:192.0.2.11, DNS:registry.example.com, which the controller computed for the host")


def test_a_request_with_a_name_that_would_break_out_of_a_configuration_file_is_refused_on_one_line():
    refusal = pki.request_refusal(request([*COMPUTED, x509.DNSName("1.1.1.1:5000 check\nlisten x")]), COMPUTED)
    assert refusal == ("it asks for 'DNS:1.1.1.1:5000 check\\nlisten x', which the controller did not compute for "
                       "the host")


def test_a_request_for_a_name_of_another_kind_is_refused_naming_it():
    uri = x509.UniformResourceIdentifier("spiffe://example.org/registry")
    refusal = pki.request_refusal(request([*COMPUTED, uri]), COMPUTED)
    assert refusal == ("it asks for URI:'spiffe://example.org/registry', which the controller did not compute for "
                       "the host")


def test_a_request_whose_signature_does_not_verify_is_refused():
    tampered = with_broken_signature(request(COMPUTED))
    assert pki.request_refusal(tampered, COMPUTED) == "its signature does not verify with the public key it carries"


def test_the_certificate_carries_the_computed_names_and_subject_never_the_request_s_own(test_ca):
    ca, ca_key = test_ca
    csr = request([entry.upper() for entry in COMPUTED[:2]] + COMPUTED[2:], subject="bank.example.com")
    certificate = pki.sign(csr, ca, ca_key, datetime.timedelta(days=1), COMPUTED)
    assert pki.san_entries_of(certificate) == COMPUTED
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "replica1"
    assert pki.public_der(certificate) == pki.public_der(csr)


def test_every_kind_of_name_of_a_request_is_read():
    uri = x509.UniformResourceIdentifier("spiffe://example.org/registry")
    assert pki.san_entries_of(request(["DNS:Replica1", "IP:2001:db8:0::1", uri])) == [
        "DNS:Replica1", "IP:2001:db8::1", "URI:'spiffe://example.org/registry'"]


def test_a_certificate_serves_only_unless_it_is_asked_to_authenticate_clients_too(test_ca):
    ca, ca_key = test_ca
    csr = request(COMPUTED)
    server = pki.sign(csr, ca, ca_key, datetime.timedelta(days=1), COMPUTED)
    both = pki.sign(csr, ca, ca_key, datetime.timedelta(days=1), COMPUTED, client_auth=True)
    assert pki.extended_usages(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert pki.extended_usages(both) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_certificate_without_client_auth_is_due_again_where_the_host_needs_it(test_ca):
    ca, ca_key = test_ca
    key = ec.generate_private_key(ec.SECP256R1())
    csr = pki.certificate_request(key, COMPUTED)
    server = pki.sign(csr, ca, ca_key, datetime.timedelta(days=365), COMPUTED)
    issuer = pki.subject_key_id(ca)
    assert pki.reissue_reasons(server, key, COMPUTED, issuer, 30) == []
    assert pki.reissue_reasons(server, key, COMPUTED, issuer, 30, client_auth=True) == [
        "it lacks the extended key usage clientAuth"]
    both = pki.sign(csr, ca, ca_key, datetime.timedelta(days=365), COMPUTED, client_auth=True)
    assert pki.reissue_reasons(both, key, COMPUTED, issuer, 30, client_auth=True) == []
