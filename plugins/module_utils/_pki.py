# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the registry host's key and certificate, with ``cryptography``.

Shared by the registry_certificate module (on the registry host: the key is made there and never leaves it;
the certificate it has is judged there) and its action plugin (on the controller: the CA signs the request).
What makes a certificate due again is decided in one place, :func:`reissue_reasons`, for both sides: a key it
does not belong to, names it lacks or has beyond those wanted, a CA other than the one that must sign it, or an
expiry inside the renewal window.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import traceback

from ansible_collections.dockyard.registry.plugins.module_utils._validity import not_after

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # the module reports it with missing_required_lib
    x509 = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

CURVES = {"secp256r1": "SECP256R1", "secp384r1": "SECP384R1", "secp521r1": "SECP521R1"}
# An hour's grace for hosts whose clock runs a little behind the controller's.
NOT_BEFORE_GRACE = datetime.timedelta(hours=1)


# How san_entries_of names the kinds of subjectAltName other than DNS and IP.
_KINDS = {"RFC822Name": "email", "UniformResourceIdentifier": "URI", "RegisteredID": "RID", "DirectoryName": "dirName",
          "OtherName": "otherName"}

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def validity(text: str) -> datetime.timedelta:
    """``+365d`` (or ``w``, ``h``, ``m``, ``s``) as a duration; ValueError for anything else."""
    match = re.fullmatch(r"\+(\d+)([wdhms])", str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a validity such as +365d (a number of weeks, days, hours, minutes or "
                         "seconds from now)")
    return datetime.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_key(key_type: str, curve: str = "secp256r1", size: int = 4096):
    if key_type == "ECC":
        return ec.generate_private_key(getattr(ec, CURVES[curve])())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_fits(key, key_type: str, curve: str = "secp256r1", size: int = 4096) -> bool:
    """Whether ``key`` is of the type, curve or size asked for."""
    if key_type == "ECC":
        return isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == curve
    return isinstance(key, rsa.RSAPrivateKey) and key.key_size == size


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def csr_pem(csr) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: bytes):
    return x509.load_pem_x509_csr(pem)


def load_key(pem: bytes, password: bytes | None = None):
    return serialization.load_pem_private_key(pem, password=password)


def load_certificate(pem: bytes):
    return x509.load_pem_x509_certificate(pem)


def certificate_pem(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def public_der(key_or_certificate) -> bytes:
    public = key_or_certificate.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def san_entries_of(certificate_or_csr) -> list[str]:
    """The subjectAltName entries of a certificate or a request, in its order: ``DNS:name``, ``IP:address``, and any
    other kind of name by its kind (``URI:``, ``email:``, ...), so that none goes unseen."""
    try:
        names = certificate_or_csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    entries = []
    for name in names:
        if isinstance(name, x509.DNSName):
            entries.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            entries.append(f"IP:{name.value.compressed}")
        else:
            entries.append(f"{_KINDS.get(type(name).__name__, type(name).__name__)}:{name.value!r}")
    return entries


def san_difference(asked: list[str], computed: list[str]) -> tuple[list[str], list[str]]:
    """The entries ``asked`` for that were not ``computed``, and those computed that were not asked for.

    DNS names are compared without regard to case; each list keeps the order of its source.
    """
    def key(entry: str) -> str:
        return entry.lower() if entry.startswith("DNS:") else entry

    want, have = {key(entry) for entry in computed}, {key(entry) for entry in asked}
    return [entry for entry in asked if key(entry) not in want], [entry for entry in computed if key(entry) not in have]


def request_refusal(csr, computed: list[str]) -> str | None:
    """Why the CA must not sign ``csr`` for a host whose names the controller computed as ``computed``; None when
    its signature is valid and it asks for exactly those names."""
    if not csr.is_signature_valid:
        return "its signature does not verify with the public key it carries"
    unexpected, missing = san_difference(san_entries_of(csr), computed)
    problems = []
    if unexpected:
        problems.append(f"it asks for {_listed(unexpected)}, which the controller did not compute for the host")
    if missing:
        problems.append(f"it lacks {_listed(missing)}, which the controller computed for the host")
    return "; ".join(problems) or None


def _listed(entries: list[str]) -> str:
    """Entries for a message, each on the one line (a name with a line break is quoted)."""
    return ", ".join(entry if entry.isprintable() else repr(entry) for entry in entries)


def subject_key_id(certificate) -> str:
    """The Subject Key Identifier of a CA certificate, hexadecimal (computed when the extension is missing)."""
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest.hex()


def authority_key_id(certificate) -> str | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier.hex()
    except (x509.ExtensionNotFound, AttributeError):
        return None


def signing_ca(rollover: str, current_issuer: str | None, next_ski: str | None) -> str:
    """``ca`` or ``ca-next``: the CA that signs a registry host's certificate in this run.

    The next CA of a rollover signs from its switch run on, and afterwards keeps the certificates it issued; so a
    run without a rollover step never undoes one.
    """
    if next_ski and (rollover == "switch" or current_issuer == next_ski):
        return "ca-next"
    return "ca"


def usages(client_auth: bool = False) -> list:
    """The extended key usages of a certificate the CA issues: serverAuth, and clientAuth for a host whose servers
    also present their certificate to each other (Go's TLS refuses a client certificate without it)."""
    return [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])


def extended_usages(certificate) -> list:
    try:
        return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


def reissue_reasons(certificate, key, wanted_sans: list[str], issuer_ski: str, renew_before_days: int,
                    moment: datetime.datetime | None = None, client_auth: bool = False) -> list[str]:
    """Why ``certificate`` must be issued again (empty when it is fine), in words for the task's result.
    ``client_auth``: the certificate must also carry the clientAuth usage."""
    if certificate is None:
        return ["there is no certificate yet"]
    moment = moment or now()
    reasons = []
    if public_der(certificate) != public_der(key):
        reasons.append("it is not the certificate of the host's key")
    have, want = san_entries_of(certificate), list(wanted_sans)
    if sorted(entry.lower() for entry in have) != sorted(entry.lower() for entry in want):
        reasons.append(f"it names {', '.join(have) or 'nothing'}, not {', '.join(want)}")
    if authority_key_id(certificate) != issuer_ski:
        reasons.append("another CA issued it")
    names = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
    lacking = [names[usage] for usage in usages(client_auth) if usage not in extended_usages(certificate)]
    if lacking:
        reasons.append(f"it lacks the extended key usage {', '.join(lacking)}")
    if not_after(certificate) <= moment + datetime.timedelta(days=renew_before_days):
        reasons.append(f"it expires on {not_after(certificate):%Y-%m-%d}, within the {renew_before_days} days of "
                       "registry_pki_renew_before")
    return reasons


def certificate_request(key, sans: list[str]):
    """A CSR for ``sans`` (the first one as common name), signed with the host's key."""
    names = [_general_name(entry) for entry in sans]
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(_subject(sans))
               .add_extension(x509.SubjectAlternativeName(names), critical=False))
    return builder.sign(key, hashes.SHA256())


def _subject(sans: list[str]):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0].split(":", 1)[1])])


def sign(csr, ca_certificate, ca_key, lifetime: datetime.timedelta, sans: list[str],
         moment: datetime.datetime | None = None, client_auth: bool = False):
    """The server certificate for ``csr``'s key: the CA's signature, serverAuth (and clientAuth with ``client_auth``),
    and the names ``sans`` the controller computed (the first as common name), never what the request says beyond
    its key. Call it only for a request :func:`request_refusal` accepts."""
    moment = moment or now()
    public = csr.public_key()
    usage = {"digital_signature": True, "key_encipherment": isinstance(public, rsa.RSAPublicKey)}
    builder = (x509.CertificateBuilder()
               .subject_name(_subject(sans))
               .issuer_name(ca_certificate.subject)
               .public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(moment - NOT_BEFORE_GRACE)
               .not_valid_after(moment + lifetime)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(content_commitment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False, **usage), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages(client_auth)), critical=False)
               .add_extension(x509.SubjectAlternativeName([_general_name(entry) for entry in sans]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key()),
                              critical=False))
    return builder.sign(ca_key, hashes.SHA256())


def _general_name(entry: str):
    kind, _colon, value = entry.partition(":")
    return x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP" else x509.DNSName(value)
