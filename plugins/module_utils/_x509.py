# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a registry's certificates judged the way Go judges them.

The Docker daemon is a Go program. It accepts a registry's certificate when ``crypto/tls`` and
``crypto/x509``'s ``Certificate.Verify`` do, with the CAs it trusts for the registry as roots, the certificates
the server sent after its own as intermediates, the address as the name to verify, and server authentication as
the key usage. ``verify`` follows their code step by step, in their order, so that the first failure it returns
is the error the daemon reports, in the daemon's words, and the ones after it are what the daemon would report
once the first is mended:

1. ``crypto/tls``: every certificate the server sent must parse (an ECDSA key on P-224, P-256, P-384 or P-521)
   and, from Go 1.19.12, 1.20.7 and 1.21 on, hold an RSA key of at most 8192 bits.
2. The leaf: no critical extension Go does not handle, and inside its validity dates.
3. The address against the leaf's subject alternative names: an IP address against IP SANs only, a name
   against DNS SANs (a wildcard covers one label); the common name never counts.
4. A chain to a trusted CA, built as Go builds it: candidate issuers by subject, trusted CAs before the server's
   intermediates. Each signature is checked: the issuer must be a CA (CA:TRUE, or a version 1 certificate) with
   keyCertSign if it has a key usage; MD2 and MD5 signatures are refused, SHA-1 ones from Go 1.18 on (GODEBUG
   ``x509sha1=1`` allowed them until 1.23), RSA keys under 1024 bits from Go 1.24 on (``rsa1024min=0`` allows them).
   Each CA must have no unhandled critical extension, be inside its dates, permit every name of the leaf by its
   name constraints (from 1.19 on, its own names too; from 1.21 on, those of the intermediates below it instead)
   and leave room in its path length; an intermediate must say CA:TRUE.
5. Extended key usage: every certificate of the chain that lists usages must list server authentication or any.
6. ``crypto/tls`` again, from Go 1.24 on: the leaf's RSA key signs the handshake, so it needs 1024 bits too.

Key usage bits of the leaf are ignored, as Go ignores them. Not modelled: certificate policies (validated from
Go 1.24 on), the rarer parse errors, and the common-name fallback of Go before 1.15.

Everything here is pure and needs only ``cryptography`` 38 or later. Signatures are checked with the issuer's
public key, and what cryptography 38 does not say about a certificate (raw names, the RSA-PSS parameters, raw
extensions) is read from its DER.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import ipaddress
import mmap
import os
import re
import struct
from pathlib import Path
from urllib.parse import urlsplit

from ansible_collections.dockyard.registry.plugins.module_utils._dockerd import DEFAULT_PIDFILE, dockerd_binary
from ansible_collections.dockyard.registry.plugins.module_utils._names import as_ip
from ansible_collections.dockyard.registry.plugins.module_utils._validity import not_after

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # the module reports it with missing_required_lib
    x509 = None

# What Go refuses: Failure.reason.
UNPARSABLE = "unparsable"
RSA_KEY_TOO_LARGE = "rsa_key_too_large"
UNHANDLED_CRITICAL_EXTENSION = "unhandled_critical_extension"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
HOSTNAME = "hostname"
UNKNOWN_AUTHORITY = "unknown_authority"
NOT_AUTHORIZED_TO_SIGN = "not_authorized_to_sign"
TOO_MANY_INTERMEDIATES = "too_many_intermediates"
NAME_NOT_PERMITTED = "name_not_permitted"
INCOMPATIBLE_USAGE = "incompatible_usage"
RSA_KEY_TOO_SMALL = "rsa_key_too_small"
TOO_MANY_CANDIDATES = "too_many_candidates"

_CONSTRAINT_VIOLATION = "x509: invalid signature: parent certificate cannot sign this kind of certificate"
_UNSUPPORTED = "x509: cannot verify signature: algorithm unimplemented"
_RSA_MINIMUM = "crypto/rsa: {bits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)"
_MAX_SIGNATURE_CHECKS = 100
_GO_CURVES = ("secp224r1", "secp256r1", "secp384r1", "secp521r1")
# Extensions Go's parser handles; a critical one of any other kind makes the certificate unusable.
_HANDLED_EXTENSIONS = frozenset(f"2.5.29.{number}" for number in (14, 15, 17, 19, 30, 31, 32, 35, 37)) | {
    "1.3.6.1.5.5.7.1.1"}
_POLICY_EXTENSIONS = frozenset(("2.5.29.33", "2.5.29.36", "2.5.29.54"))  # handled from Go 1.24 on
_SAN, _NAME_CONSTRAINTS = "2.5.29.17", "2.5.29.30"
_RSA_PSS = "1.2.840.113549.1.1.10"
_MGF1 = "1.2.840.113549.1.1.8"
_PSS_HASHES = {"2.16.840.1.101.3.4.2.1": ("SHA256-RSAPSS", "sha256", 32),
               "2.16.840.1.101.3.4.2.2": ("SHA384-RSAPSS", "sha384", 48),
               "2.16.840.1.101.3.4.2.3": ("SHA512-RSAPSS", "sha512", 64)}
# Signature algorithm OID -> Go's name for it, its hash (None: none Go can compute), the key it needs.
_SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.2": ("MD2-RSA", None, "RSA"),
    "1.2.840.113549.1.1.4": ("MD5-RSA", "md5", "RSA"),
    "1.2.840.113549.1.1.5": ("SHA1-RSA", "sha1", "RSA"),
    "1.3.14.3.2.29": ("SHA1-RSA", "sha1", "RSA"),
    "1.2.840.113549.1.1.11": ("SHA256-RSA", "sha256", "RSA"),
    "1.2.840.113549.1.1.12": ("SHA384-RSA", "sha384", "RSA"),
    "1.2.840.113549.1.1.13": ("SHA512-RSA", "sha512", "RSA"),
    "1.2.840.10040.4.3": ("DSA-SHA1", "sha1", "DSA"),
    "2.16.840.1.101.3.4.3.2": ("DSA-SHA256", "sha256", "DSA"),
    "1.2.840.10045.4.1": ("ECDSA-SHA1", "sha1", "ECDSA"),
    "1.2.840.10045.4.3.2": ("ECDSA-SHA256", "sha256", "ECDSA"),
    "1.2.840.10045.4.3.3": ("ECDSA-SHA384", "sha384", "ECDSA"),
    "1.2.840.10045.4.3.4": ("ECDSA-SHA512", "sha512", "ECDSA"),
    "1.3.101.112": ("Ed25519", None, "Ed25519"),
}
_GO_KEY_TYPES = {"RSA": "*rsa.PublicKey", "ECDSA": "*ecdsa.PublicKey", "Ed25519": "ed25519.PublicKey",
                 "DSA": "*dsa.PublicKey"}
_GO_VERSION = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?")
_BUILD_INFO_MAGIC = b"\xff Go buildinf:"


# Which Go judges


@dataclasses.dataclass(frozen=True)
class GoRules:
    """The Go version of the daemon (None: the newest this module knows) and its GODEBUG settings."""

    version: tuple[int, int, int] | None = None
    godebug: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, version: str, *godebug: str) -> GoRules:
        """From ``go1.19.8`` (or ``""``: older than Go 1.18) and GODEBUG strings, later ones overriding earlier."""
        match = _GO_VERSION.search(version or "")
        settings = {}
        for text in godebug:
            for item in (text or "").split(","):
                key, equals, value = item.strip().partition("=")
                if equals:
                    settings[key] = value
        parsed = tuple(int(part or 0) for part in match.groups()) if match else (1, 17, 0)
        return cls(parsed, tuple(sorted(settings.items())))

    def at_least(self, *version: int) -> bool:
        return self.version is None or self.version >= version

    def setting(self, name: str) -> str | None:
        return dict(self.godebug).get(name)

    @property
    def name(self) -> str:
        if self.version is None:
            return "the newest Go"
        text = "Go {}.{}.{}".format(*self.version) if self.version >= (1, 18) else "Go 1.17 or older"
        return text + (f" (GODEBUG {','.join(f'{key}={value}' for key, value in self.godebug)})" if self.godebug else "")

    @property
    def refuses_sha1(self) -> bool:
        return self.at_least(1, 18) and (self.at_least(1, 24) or self.setting("x509sha1") != "1")

    @property
    def sha1_override_hint(self) -> bool:
        return self.version is not None and (1, 18) <= self.version < (1, 24)

    @property
    def rsa_minimum(self) -> int:
        return 1024 if self.at_least(1, 24) and self.setting("rsa1024min") != "0" else 0

    @property
    def rsa_maximum(self) -> int | None:
        version = self.version
        if version is not None and not (version >= (1, 21) or (1, 20, 7) <= version < (1, 21)
                                        or (1, 19, 12) <= version < (1, 20)):
            return None
        setting = self.setting("tlsmaxrsasize") if self.at_least(1, 22) else None
        return int(setting) if setting and setting.isdigit() else 8192

    @property
    def names_checked_against_constraints(self) -> str:
        """Whose names a CA's name constraints must permit: ``leaf``, ``leaf+self`` or ``chain``."""
        if not self.at_least(1, 19):
            return "leaf"
        return "chain" if self.at_least(1, 21) else "leaf+self"

    def handles(self, oid: str) -> bool:
        return oid in _HANDLED_EXTENSIONS or (oid in _POLICY_EXTENSIONS and self.at_least(1, 24))

    def wrap(self, message: str) -> str:
        """What crypto/tls makes of an x509 error: from Go 1.20 on it says what failed first."""
        return f"tls: failed to verify certificate: {message}" if self.at_least(1, 20) else message


NEWEST = GoRules()


def go_build_info(data) -> tuple[str, str] | None:
    """(Go version, DefaultGODEBUG) from a Go binary's build information; None where it has none.

    ``data`` is the binary's content (bytes or an mmap). Go 1.18 and later write the version and the module
    information inline; older binaries point at them instead, and come back as ``("", "")``.
    """
    # Where the binary is ELF, its .go.buildinfo section says where to look: dockerd keeps it near its end, and a
    # search from the start reads the whole binary.
    section = _elf_section(data, b".go.buildinfo")
    offset = data.find(_BUILD_INFO_MAGIC, section[0] if section else 0)
    while offset >= 0 and offset % 16:
        offset = data.find(_BUILD_INFO_MAGIC, offset + 1)
    if offset < 0:
        return None
    if not data[offset + 15] & 2:
        return "", ""
    position = offset + 32
    strings = []
    for _item in range(2):
        length, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        strings.append(bytes(data[position:position + length]).decode("utf-8", "replace"))
        position += length
    version, modinfo = strings
    default = next((line.partition("=")[2] for line in modinfo.splitlines()
                    if line.startswith("build\tDefaultGODEBUG=")), "")
    return version, default


def _elf_section(data, name: bytes) -> tuple[int, int] | None:
    """(offset, size) of the section ``name`` of a 64-bit little-endian ELF file; None for anything else."""
    if bytes(data[:6]) != b"\x7fELF\x02\x01":
        return None
    try:
        (table,) = struct.unpack_from("<Q", data, 0x28)
        entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
        if not table or entry_size < 64 or names_index >= count:
            return None
        headers = [struct.unpack_from("<IIQQQQ", data, table + index * entry_size) for index in range(count)]
        names_offset, names_size = headers[names_index][4:6]
        for name_offset, _type, _flags, _address, offset, size in headers:
            start = names_offset + name_offset
            end = data.find(b"\0", start, names_offset + names_size)
            if end >= 0 and bytes(data[start:end]) == name:
                return offset, size
    except struct.error:
        return None
    return None


# What Go found


@dataclasses.dataclass(frozen=True)
class Failure:
    """One thing Go refuses: ``message`` in Go's words, ``explanation`` and ``fix`` in plain ones."""

    reason: str
    message: str
    explanation: str
    fix: str
    certificate: object = None  # the certificate at fault


def verify(leaf, intermediates, roots, host: str, now: datetime.datetime, rules: GoRules = NEWEST) -> list[Failure]:
    """Every failure Go finds with ``leaf`` for ``host`` at ``now``, in Go's order: the first is the daemon's error.

    ``intermediates`` are the certificates the server sent after the leaf, ``roots`` the CAs the daemon trusts
    for the registry, all ``cryptography`` certificates. An empty list means the daemon accepts the certificate.
    """
    checker = _Verifier(rules, now)
    failures = []
    sent = [checker.wrap(leaf, is_leaf=True)] + [checker.wrap(item) for item in intermediates]
    for certificate in sent:
        failures += certificate.tls_problems(rules)
    if sent[0].parse_error:
        return failures
    checker.roots = _Pool(checker.wrap(item) for item in roots)
    checker.intermediates = _Pool(item for item in sent[1:] if not item.parse_error)
    failures += checker.leaf_problems(sent[0])
    hostname = verify_hostname(sent[0], host)
    if hostname:
        failures.append(dataclasses.replace(hostname, message=rules.wrap(hostname.message)))
    if checker.roots.contains(sent[0]):
        chains, error = [[sent[0]]], None
    else:
        chains, error = checker.build_chains(sent[0], [sent[0]])
    if error is not None:
        failures.append(error)
    elif all(_refuses_server_auth(chain) for chain in chains):
        failures.append(_incompatible_usage(_refuses_server_auth(chains[0]), rules))
    failures += sent[0].handshake_problems(rules)
    return failures


def verify_hostname(leaf, host: str) -> Failure | None:
    """Go's ``VerifyHostname``: None where ``host`` is among the leaf's SANs, else the failure naming them."""
    certificate = leaf if isinstance(leaf, _Certificate) else _Certificate(leaf, True)
    if _matches(certificate, host):
        return None
    dns_names, ips = certificate.dns_names, certificate.ips
    address = as_ip(host.strip("[]"))
    if not certificate.has(_SAN) and _match_hostnames(certificate.common_name, host):
        message = "x509: certificate relies on legacy Common Name field, use SANs instead"
    elif address is not None:
        valid = ", ".join(_go_ip(ip) for ip in ips)
        message = (f"x509: certificate is valid for {valid}, not {host}" if ips else
                   f"x509: cannot validate certificate for {host} because it doesn't contain any IP SANs")
    else:
        message = (f"x509: certificate is valid for {', '.join(dns_names)}, not {host}" if dns_names else
                   f"x509: certificate is not valid for any names, but wanted to match {host}")
    if address is not None:
        has = f"its IP SANs are {', '.join(_go_ip(ip) for ip in ips)}" if ips else "it has no IP SANs"
    else:
        has = f"its DNS SANs are {', '.join(dns_names)}" if dns_names else "it has no DNS SANs"
    return Failure(HOSTNAME, message, f"the certificate does not name {host}: {has}", "", certificate)


def not_before(certificate) -> datetime.datetime:
    """The start of a certificate's validity, UTC, on every cryptography (``not_valid_before_utc`` came in 42)."""
    return _utc(getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before)


# The certificates as Go sees them


class _Certificate:
    """A cryptography certificate with what Go reads from its DER: raw names, raw extensions, the signature."""

    def __init__(self, certificate, is_leaf: bool = False) -> None:
        self.x509 = certificate
        self.is_leaf = is_leaf
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.der = der
        tbs, algorithm, _signature = _children(der, *_tlv(der, 0)[2:])
        fields = _children(der, tbs[2], tbs[3])
        self.version = 3 if fields[0][0] == 0xA0 else 1
        fields = fields[1:] if fields[0][0] == 0xA0 else fields
        self.raw_issuer, self.raw_subject, self.raw_key = (der[fields[index][1]:fields[index][3]] for index in (2, 4, 5))
        self.extensions = {}  # OID -> (critical, value DER), in the certificate's order
        for field in fields[6:]:
            if field[0] != 0xA3:
                continue
            sequence = _children(der, field[2], field[3])[0]
            for extension in _children(der, sequence[2], sequence[3]):
                parts = _children(der, extension[2], extension[3])
                critical = len(parts) == 3 and der[parts[1][2]:parts[1][3]] != b"\x00"
                self.extensions.setdefault(_oid(der[parts[0][2]:parts[0][3]]), (critical, der[parts[-1][2]:parts[-1][3]]))
        self.signature_algorithm = _signature_algorithm(der, algorithm)
        self.signature_oid = _oid(der[slice(*_children(der, algorithm[2], algorithm[3])[0][2:])])

    @functools.cached_property
    def parse_error(self) -> str:
        """What Go cannot parse in the certificate (empty where nothing): read when first asked, since a pool of
        system roots holds a hundred and more certificates of which a chain uses one."""
        return self._parse_error()

    # What cryptography parsed

    def extension(self, kind):
        try:
            return self.x509.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    def has(self, oid: str) -> bool:
        return oid in self.extensions

    @property
    def dns_names(self) -> list[str]:
        sans = self.extension(x509.SubjectAlternativeName)
        return list(sans.get_values_for_type(x509.DNSName)) if sans else []

    @property
    def ips(self) -> list:
        sans = self.extension(x509.SubjectAlternativeName)
        return list(sans.get_values_for_type(x509.IPAddress)) if sans else []

    @property
    def common_name(self) -> str:
        values = self.x509.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[-1].value) if values else ""

    @property
    def go_name(self) -> str:
        """How Go names a candidate authority: its common name, else its organization, else its serial number."""
        organizations = self.x509.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return self.common_name or (str(organizations[0].value) if organizations else f"serial:{self.x509.serial_number}")

    @property
    def label(self) -> str:
        """The certificate in an explanation."""
        return "the certificate" if self.is_leaf else f"the CA {self.go_name!r}"

    @property
    def algorithm_name(self) -> str:
        name = self.signature_algorithm[0]
        return name if name != "0" else f"the signature algorithm {self.signature_oid}"

    @property
    def not_before(self) -> datetime.datetime:
        return not_before(self.x509)

    @property
    def not_after(self) -> datetime.datetime:
        return not_after(self.x509)

    def public_key(self):
        try:
            return self.x509.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None

    @property
    def key_algorithm(self) -> str | None:
        """Go's name for the kind of public key: None where Go does not know it."""
        key = self.public_key()
        for name, kind in (("RSA", rsa.RSAPublicKey), ("ECDSA", ec.EllipticCurvePublicKey),
                           ("Ed25519", ed25519.Ed25519PublicKey), ("DSA", dsa.DSAPublicKey)):
            if isinstance(key, kind):
                return name
        return None

    def _parse_error(self) -> str:
        key = self.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _GO_CURVES:
            return "x509: unsupported elliptic curve"
        try:
            self.x509.extensions  # noqa: B018 - Go refuses what cryptography cannot parse either
        except ValueError as exc:
            return f"x509: {exc}"
        return ""

    # Go's rules on one certificate

    def unhandled_critical_extensions(self, rules: GoRules) -> list[str]:
        unhandled = [oid for oid, (critical, _value) in self.extensions.items() if critical and not rules.handles(oid)]
        sans = self.extension(x509.SubjectAlternativeName)
        if self.extensions.get(_SAN, (False,))[0] and sans is not None and not (
                self.dns_names or self.ips or sans.get_values_for_type(x509.RFC822Name)
                or sans.get_values_for_type(x509.UniformResourceIdentifier)):
            unhandled.append(_SAN)  # Go handles a SAN extension only for the names it knows
        constraints = self.extension(x509.NameConstraints)
        if self.extensions.get(_NAME_CONSTRAINTS, (False,))[0] and constraints is not None and any(
                not isinstance(name, (x509.DNSName, x509.IPAddress, x509.RFC822Name, x509.UniformResourceIdentifier))
                for name in (constraints.permitted_subtrees or []) + (constraints.excluded_subtrees or [])):
            unhandled.append(_NAME_CONSTRAINTS)  # for example directoryName constraints
        return unhandled

    def validity_problem(self, now: datetime.datetime) -> Failure | None:
        if now < self.not_before:
            message = f"current time {_go_time(now)} is before {_go_time(self.not_before)}"
            return Failure(NOT_YET_VALID, f"x509: certificate has expired or is not yet valid: {message}",
                           f"{self.label} is valid only from {_iso(self.not_before)}",
                           "" if self.is_leaf else f"The CA {self.go_name!r} is valid only from {_iso(self.not_before)}: "
                           "fix the clock of this host, or reissue the CA with a start date in the past.", self)
        if now > self.not_after:
            message = f"current time {_go_time(now)} is after {_go_time(self.not_after)}"
            return Failure(EXPIRED, f"x509: certificate has expired or is not yet valid: {message}",
                           f"{self.label} expired at {_iso(self.not_after)}" if self.is_leaf else
                           f"{self.label} in its chain expired at {_iso(self.not_after)}",
                           "" if self.is_leaf else f"Renew the CA {self.go_name!r} (valid until {_iso(self.not_after)}) "
                           "and put the new one in certs.d on every Docker host.", self)
        return None

    def tls_problems(self, rules: GoRules) -> list[Failure]:
        """What crypto/tls refuses while it reads the certificates the server sent."""
        if self.parse_error:
            return [Failure(UNPARSABLE, f"tls: failed to parse certificate from server: {self.parse_error}",
                            f"the daemon cannot read {self.label} the server sent ({self.parse_error})",
                            f"Reissue {self.label} with a key and extensions Go reads: RSA, ECDSA on P-256 or P-384, "
                            "or Ed25519.", self)]
        key, maximum = self.public_key(), rules.rsa_maximum
        if isinstance(key, rsa.RSAPublicKey) and maximum is not None and key.key_size > maximum:
            return [Failure(RSA_KEY_TOO_LARGE,
                            f"tls: server sent certificate containing RSA key larger than {maximum} bits",
                            f"{self.label} has a {key.key_size}-bit RSA key, more than the {maximum} bits "
                            f"{rules.name} accepts", f"Reissue {self.label} with an RSA key of 2048 to 4096 bits.", self)]
        return []

    def handshake_problems(self, rules: GoRules) -> list[Failure]:
        """The leaf's key signs the TLS handshake: from Go 1.24 on, an RSA key needs 1024 bits for that."""
        key = self.public_key()
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < rules.rsa_minimum:
            return [Failure(RSA_KEY_TOO_SMALL, "tls: invalid signature by the server certificate: "
                            + _RSA_MINIMUM.format(bits=key.key_size),
                            f"the certificate has a {key.key_size}-bit RSA key, and {rules.name} refuses RSA keys "
                            "under 1024 bits", "Reissue the certificate with an RSA key of 2048 bits or more, or "
                            "an ECDSA key.", self)]
        return []


class _Pool:
    """Go's CertPool: certificates by raw subject, each once.

    Go leaves out a CA it cannot parse; here it is passed over where it would be a parent, so that a pool of a hundred
    system roots parses only the candidates of a chain. A leaf with the DER of such a CA cannot be parsed either, and
    is refused before the pool is asked whether it contains it.
    """

    def __init__(self, certificates) -> None:
        self.certificates, self._seen = [], set()
        for certificate in certificates:
            if certificate.der in self._seen:
                continue  # Go adds each certificate once
            self._seen.add(certificate.der)
            self.certificates.append(certificate)

    def contains(self, certificate) -> bool:
        return certificate.der in self._seen

    def parents(self, child) -> list:
        """Go's findPotentialParents: same subject as the issuer; matching key IDs first, then half-known ones."""
        authority = child.extension(x509.AuthorityKeyIdentifier)
        wanted = (authority.key_identifier if authority else None) or b""
        ranked = ([], [], [])
        for candidate in self.certificates:
            if candidate.raw_subject != child.raw_issuer or candidate.parse_error:
                continue
            subject_key = candidate.extension(x509.SubjectKeyIdentifier)
            have = subject_key.digest if subject_key else b""
            ranked[0 if have == wanted else 1 if not have or not wanted else 2].append(candidate)
        return ranked[0] + ranked[1] + ranked[2]


class _Verifier:
    def __init__(self, rules: GoRules, now: datetime.datetime) -> None:
        self.rules, self.now = rules, now
        self.roots = self.intermediates = None
        self.signature_checks = 0
        self._wrapped = {}

    def wrap(self, certificate, is_leaf: bool = False) -> _Certificate:
        key = (id(certificate), is_leaf)
        if key not in self._wrapped:
            self._wrapped[key] = _Certificate(certificate, is_leaf)
        return self._wrapped[key]

    def leaf_problems(self, leaf: _Certificate) -> list[Failure]:
        failures = []
        unhandled = leaf.unhandled_critical_extensions(self.rules)
        if unhandled:
            failures.append(_unhandled(leaf, unhandled, self.rules))
        validity = leaf.validity_problem(self.now)
        if validity:
            failures.append(dataclasses.replace(validity, message=self.rules.wrap(validity.message)))
        return failures

    def build_chains(self, current: _Certificate, chain: list) -> tuple[list, Failure | None]:
        """Go's buildChains: every chain from ``current`` to a root, or the error of the last candidate tried."""
        chains, error, hint = [], None, None
        candidates = [(True, parent) for parent in self.roots.parents(current)]
        candidates += [(False, parent) for parent in self.intermediates.parents(current)]
        for is_root, candidate in candidates:
            if _already_in_chain(candidate, chain):
                continue
            self.signature_checks += 1
            if self.signature_checks > _MAX_SIGNATURE_CHECKS:
                error = Failure(TOO_MANY_CANDIDATES, self.rules.wrap(
                    "x509: signature check attempts limit reached while verifying certificate chain"),
                    "the chain offers more candidate issuers than the daemon tries",
                    "Send only the intermediates of the registry's own chain.", current)
                continue
            refusal = _check_signature(current, candidate, self.rules)
            if refusal is not None:
                hint = hint or (refusal, candidate)
                continue
            error = self._ca_problem(candidate, is_root, chain)
            if error is not None:
                continue
            if is_root:
                chains.append([*chain, candidate])
            else:
                below, error = self.build_chains(candidate, [*chain, candidate])
                chains += below
        if chains:
            error = None
        elif error is None:
            error = _unknown_authority(current, hint, self.rules)
        return chains, error

    def _ca_problem(self, ca: _Certificate, is_root: bool, chain: list) -> Failure | None:
        """Go's isValid for a candidate issuer: extensions, dates, name constraints, CA flag, path length."""
        unhandled = ca.unhandled_critical_extensions(self.rules)
        if unhandled:
            return _unhandled(ca, unhandled, self.rules)
        validity = ca.validity_problem(self.now)
        if validity:
            return dataclasses.replace(validity, message=self.rules.wrap(validity.message))
        constraints = ca.extension(x509.NameConstraints) if ca.has(_NAME_CONSTRAINTS) else None
        if constraints is not None:
            scope = self.rules.names_checked_against_constraints
            holders = chain[:1] if scope != "chain" else chain
            holders = [*holders, ca] if scope == "leaf+self" else holders
            for holder in holders:
                refusal = _check_name_constraints(ca, constraints, holder)
                if refusal:
                    return Failure(NAME_NOT_PERMITTED, self.rules.wrap(refusal[0]), refusal[1],
                                   f"Reissue the certificate with names the CA {ca.go_name!r} may certify, or "
                                   "reissue that CA with name constraints that permit the registry's names.", ca)
        basic = ca.extension(x509.BasicConstraints)
        if not is_root and (basic is None or not basic.ca):
            return Failure(NOT_AUTHORIZED_TO_SIGN, self.rules.wrap(
                "x509: certificate is not authorized to sign other certificates"),
                f"the intermediate {ca.label[4:]} is not a CA: it has no basic constraints with CA:TRUE"
                + (" (a version 1 certificate)" if ca.version == 1 else ""),
                f"Reissue the intermediate CA {ca.go_name!r} as a version 3 certificate with the basic constraint "
                "CA:TRUE.", ca)
        if basic is not None and basic.path_length is not None and len(chain) - 1 > basic.path_length:
            return Failure(TOO_MANY_INTERMEDIATES, self.rules.wrap(
                "x509: too many intermediates for path length constraint"),
                f"{ca.label} allows {basic.path_length} intermediate CA(s) below it (pathLenConstraint), the chain "
                f"has {len(chain) - 1}", f"Reissue the CA {ca.go_name!r} with a larger path length, or issue the "
                "registry's certificate from a CA nearer to it.", ca)
        return None


def _unhandled(certificate: _Certificate, oids: list[str], rules: GoRules) -> Failure:
    return Failure(UNHANDLED_CRITICAL_EXTENSION, rules.wrap("x509: unhandled critical extension"),
                   f"{certificate.label} has a critical extension the daemon does not handle: {', '.join(oids)}",
                   f"Reissue {certificate.label} without that extension, or with it marked not critical.", certificate)


def _unknown_authority(current: _Certificate, hint, rules: GoRules) -> Failure:
    issuer = _name_of(current.x509.issuer)
    message = "x509: certificate signed by unknown authority"
    whose = "the certificate's" if current.is_leaf else f"{current.label}'s"
    explanation = f"{whose} issuer {issuer!r} is neither a trusted CA nor signed by one"
    fix = ""
    if hint is not None:
        (cause, error), candidate = hint
        message += (f" (possibly because of {_go_quote(error)} while trying to verify candidate authority "
                    f"certificate {_go_quote(candidate.go_name)})")
        if cause == "not_a_ca":
            explanation = (f"{candidate.label}, the issuer of {current.label}, may not sign certificates: it has no "
                           "basic constraints with CA:TRUE")
            fix = f"Reissue the CA {candidate.go_name!r} with the basic constraint CA:TRUE (critical)."
        elif cause == "key_usage":
            explanation = (f"{candidate.label}, the issuer of {current.label}, may not sign certificates: its key "
                           "usage lacks keyCertSign")
            fix = f"Reissue the CA {candidate.go_name!r} with keyCertSign in its key usage."
        elif cause == "insecure":
            explanation = (f"{current.label} is signed with {current.algorithm_name}, an algorithm "
                           f"{rules.name} refuses")
            fix = f"Reissue {current.label}, signed with SHA-256 or stronger."
        elif cause == "rsa_minimum":
            explanation = (f"{candidate.label}, the issuer of {current.label}, has a "
                           f"{candidate.public_key().key_size}-bit RSA key, and {rules.name} refuses RSA keys under "
                           "1024 bits")
            fix = (f"Reissue the CA {candidate.go_name!r} with an RSA key of 2048 bits or more, and the certificates "
                   "below it.")
        elif cause == "unsupported":
            explanation = (f"{current.label} is signed with {current.algorithm_name} by "
                           f"{candidate.label}, which the daemon cannot check")
            fix = f"Reissue {current.label}, signed with RSA, ECDSA or Ed25519 and SHA-256 or stronger."
        else:
            explanation = f"{current.label} was not signed by {candidate.label}, the CA of that name, but by another key"
    return Failure(UNKNOWN_AUTHORITY, rules.wrap(message), explanation, fix, current)


def _incompatible_usage(culprit: _Certificate, rules: GoRules) -> Failure:
    usages = culprit.extension(x509.ExtendedKeyUsage)
    listed = ", ".join(getattr(oid, "_name", None) or oid.dotted_string for oid in usages) if usages else ""
    return Failure(INCOMPATIBLE_USAGE, rules.wrap("x509: certificate specifies an incompatible key usage"),
                   f"the extended key usage of {culprit.label} lacks serverAuth (it lists: {listed})",
                   f"Reissue {culprit.label} with serverAuth in its extended key usage, or without that extension.",
                   culprit)


def _refuses_server_auth(chain: list) -> _Certificate | None:
    """Go's checkChainForKeyUsage for serverAuth alone: the certificate nearest the leaf that lists usages but
    neither serverAuth nor any (the chain is refused), or None."""
    for certificate in chain:
        usages = certificate.extension(x509.ExtendedKeyUsage)
        if usages and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usages \
                and ExtendedKeyUsageOID.SERVER_AUTH not in usages:
            return certificate
    return None


def _already_in_chain(candidate: _Certificate, chain: list) -> bool:
    for certificate in chain:
        if candidate.raw_subject != certificate.raw_subject or candidate.raw_key != certificate.raw_key:
            continue
        mine, theirs = candidate.extensions.get(_SAN), certificate.extensions.get(_SAN)
        if mine is None and theirs is None:
            return True
        if mine is not None and theirs is not None and mine[1] == theirs[1]:
            return True
    return False


# Signatures


def _signature_algorithm(der: bytes, algorithm: tuple) -> tuple[str, str | None, str | None]:
    """(Go's name, hash, key kind) of a certificate's signature algorithm; ("0", None, None) where Go has none."""
    parts = _children(der, algorithm[2], algorithm[3])
    oid = _oid(der[parts[0][2]:parts[0][3]])
    if oid == "1.3.101.112" and len(parts) > 1:
        return "0", None, None  # Ed25519 takes no parameters
    if oid != _RSA_PSS:
        return _SIGNATURE_ALGORITHMS.get(oid, ("0", None, None))
    try:  # Go takes only SHA-256/384/512 with MGF1 of the same hash, a salt as long as the hash, trailer 1
        fields = {tag: (start, end) for tag, _head, start, end in _children(der, parts[1][2], parts[1][3])}
        hash_oid, hash_params = _algorithm_identifier(der, *_children(der, *fields[0xA0])[0][2:])
        mgf_oid, mgf_params = _algorithm_identifier(der, *_children(der, *fields[0xA1])[0][2:])
        mgf_hash, mgf_hash_params = _algorithm_identifier(der, *_tlv(der, mgf_params[0])[2:])
        salt = int.from_bytes(der[slice(*_children(der, *fields[0xA2])[0][2:])], "big")
        trailer = int.from_bytes(der[slice(*_children(der, *fields[0xA3])[0][2:])], "big") if 0xA3 in fields else 1
    except (KeyError, IndexError, TypeError, ValueError):
        return "0", None, None
    name, hash_name, length = _PSS_HASHES.get(hash_oid, ("0", None, 0))
    absent_or_null = (b"", b"\x05\x00")
    if (mgf_oid != _MGF1 or mgf_hash != hash_oid or salt != length or trailer != 1
            or der[slice(*hash_params)] not in absent_or_null or der[slice(*mgf_hash_params)] not in absent_or_null):
        return "0", None, None
    return name, hash_name, "RSA"


def _check_signature(child: _Certificate, parent: _Certificate, rules: GoRules) -> tuple[str, str] | None:
    """Go's CheckSignatureFrom: None if ``parent`` signed ``child``, else (cause, Go's error)."""
    basic = parent.extension(x509.BasicConstraints)
    if (parent.version == 3 and basic is None) or (basic is not None and not basic.ca):
        return "not_a_ca", _CONSTRAINT_VIOLATION
    usage = parent.extension(x509.KeyUsage)
    if usage is not None and any(_key_usage_bits(usage)) and not usage.key_cert_sign:
        return "key_usage", _CONSTRAINT_VIOLATION
    key_algorithm = parent.key_algorithm
    if key_algorithm is None:
        return "unsupported", _UNSUPPORTED
    name, hash_name, wanted_key = child.signature_algorithm
    if hash_name is None and wanted_key != "Ed25519":
        return "unsupported", _UNSUPPORTED
    if hash_name == "md5" or (hash_name == "sha1" and rules.refuses_sha1):
        hint = " (temporarily override with GODEBUG=x509sha1=1)" if (
            name in ("SHA1-RSA", "ECDSA-SHA1") and rules.sha1_override_hint) else ""
        return "insecure", f"x509: cannot verify signature: insecure algorithm {name}{hint}"
    key = parent.public_key()
    if key_algorithm != "DSA" and wanted_key != key_algorithm:
        return "signature", (f"x509: signature algorithm specifies an {wanted_key} public key, but have public "
                             f"key of type {_GO_KEY_TYPES[key_algorithm]}")
    data, signature = child.x509.tbs_certificate_bytes, child.x509.signature
    digest = getattr(hashes, hash_name.upper())() if hash_name else None
    failure = _UNSUPPORTED
    try:
        if key_algorithm == "RSA":
            if key.key_size < rules.rsa_minimum:
                return "rsa_minimum", _RSA_MINIMUM.format(bits=key.key_size)
            scheme = (padding.PSS(padding.MGF1(digest), digest.digest_size) if name.endswith("RSAPSS")
                      else padding.PKCS1v15())
            failure = "crypto/rsa: verification error"
            key.verify(signature, data, scheme, digest)
        elif key_algorithm == "ECDSA":
            failure = "x509: ECDSA verification failure"
            key.verify(signature, data, ec.ECDSA(digest))
        elif key_algorithm == "Ed25519":
            failure = "x509: Ed25519 verification failure"
            key.verify(signature, data)
        else:
            return "unsupported", _UNSUPPORTED  # Go checks no DSA signature
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return "signature", failure
    return None


def _key_usage_bits(usage) -> list[bool]:
    bits = [usage.digital_signature, usage.content_commitment, usage.key_encipherment, usage.data_encipherment,
            usage.key_agreement, usage.key_cert_sign, usage.crl_sign]
    if usage.key_agreement:  # cryptography raises for these two without keyAgreement
        bits += [usage.encipher_only, usage.decipher_only]
    return bits


# Names


def _matches(certificate: _Certificate, host: str) -> bool:
    """Go's VerifyHostname, less its error."""
    address = as_ip(host[1:-1] if len(host) >= 3 and host[0] == "[" and host[-1] == "]" else host)
    if address is not None:
        return any(_go_ip(address) == _go_ip(ip) for ip in certificate.ips)
    wanted = host.lower()
    valid = _valid_hostname(wanted, pattern=False)
    for pattern in certificate.dns_names:
        if valid and _valid_hostname(pattern, pattern=True):
            if _match_hostnames(pattern, wanted):
                return True
        elif pattern not in ("", ".") and wanted not in ("", ".") and pattern.lower() == wanted:
            return True
    return False


def _valid_hostname(host: str, pattern: bool) -> bool:
    host = host if pattern else host.removesuffix(".")
    if not host:
        return False
    for index, label in enumerate(host.split(".")):
        if not label:
            return False
        if pattern and index == 0 and label == "*":
            continue
        if any(not (char.isascii() and (char.isalnum() or char == "_" or (char == "-" and position)))
               for position, char in enumerate(label)):
            return False
    return True


def _match_hostnames(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower(), (host.removesuffix(".")).lower()
    if not pattern or not host:
        return False
    pattern_labels, host_labels = pattern.split("."), host.split(".")
    return len(pattern_labels) == len(host_labels) and all(
        (index == 0 and label == "*") or label == host_labels[index] for index, label in enumerate(pattern_labels))


def _check_name_constraints(ca: _Certificate, constraints, holder: _Certificate) -> tuple[str, str] | None:
    """Go's name constraint check of every SAN of ``holder``: None, or (Go's error, the same in plain words)."""
    sans = holder.extension(x509.SubjectAlternativeName)
    if sans is None:
        return None
    permitted, excluded = constraints.permitted_subtrees or [], constraints.excluded_subtrees or []
    for name in sans:
        if isinstance(name, x509.DNSName):
            kind, value, parsed = "DNS name", name.value, name.value
            if _reverse_labels(value) is None:
                return f"x509: cannot parse dnsName {_go_quote(value)}", f"the DNS SAN {value!r} is not a valid name"
            match = _match_domain
        elif isinstance(name, x509.IPAddress):
            kind, value, parsed, match = "IP address", _go_ip(name.value), name.value, _match_ip
        elif isinstance(name, x509.RFC822Name):
            kind, value, parsed, match = "email address", name.value, name.value, _match_email
        elif isinstance(name, x509.UniformResourceIdentifier):
            kind, value, parsed, match = "URI", name.value, name.value, _match_uri
        else:
            continue  # Go ignores SANs of other kinds
        same_kind = type(name)
        for constraint in (item for item in excluded if isinstance(item, same_kind)):
            result = match(parsed, constraint.value)
            if isinstance(result, str):
                return _constraint_refusal(ca, result, holder, kind, value)
            if result:
                detail = f"{kind} {_go_quote(value)} is excluded by constraint {_go_quote(_constraint_text(constraint))}"
                return _constraint_refusal(ca, detail, holder, kind, value, f"exclude {_constraint_text(constraint)}")
        relevant = [item for item in permitted if isinstance(item, same_kind)]
        for constraint in relevant:
            result = match(parsed, constraint.value)
            if isinstance(result, str):
                return _constraint_refusal(ca, result, holder, kind, value)
            if result:
                break
        else:
            if relevant:
                detail = f"{kind} {_go_quote(value)} is not permitted by any constraint"
                allowed = ", ".join(_constraint_text(item) for item in relevant)
                return _constraint_refusal(ca, detail, holder, kind, value, f"permit only {allowed}")
    return None


def _constraint_refusal(ca, detail, holder, kind, value, because: str = "") -> tuple[str, str]:
    owner = "the certificate" if holder.is_leaf else holder.label
    why = f" (its name constraints {because})" if because else f" ({detail})"
    return (f"x509: a root or intermediate certificate is not authorized to sign for this name: {detail}",
            f"{ca.label} may not certify the {kind} {value} of {owner}{why}")


def _constraint_text(constraint) -> str:
    value = constraint.value
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return f"{value.network_address}/{value.prefixlen}"
    return str(value)


def _reverse_labels(domain: str) -> list[str] | None:
    """Go's domainToReverseLabels: the labels last first, or None for an invalid name."""
    labels = domain.split(".")[::-1] if domain else []
    if any(not label or any(not 33 <= ord(char) <= 126 for char in label) for label in labels):
        return None
    return labels


def _match_domain(domain: str, constraint: str):
    if not constraint:
        return True
    labels = _reverse_labels(domain)
    if labels is None:
        return f"x509: internal error: cannot parse domain {_go_quote(domain)}"
    subdomains_only = constraint.startswith(".")
    wanted = _reverse_labels(constraint[1:] if subdomains_only else constraint)
    if wanted is None:
        return f"x509: internal error: cannot parse domain {_go_quote(constraint)}"
    if len(labels) < len(wanted) or (subdomains_only and len(labels) == len(wanted)):
        return False
    return all(label.lower() == labels[index].lower() for index, label in enumerate(wanted))


def _match_ip(address, network) -> bool:
    return address.version == network.version and address in network


def _match_email(mailbox: str, constraint: str):
    local, at, domain = mailbox.rpartition("@")
    if not at or not local or _reverse_labels(domain) is None:
        return 'x509: cannot parse rfc822Name {"" ""}'  # Go prints its empty mailbox here
    if "@" in constraint:
        wanted_local, _at, wanted_domain = constraint.rpartition("@")
        return local == wanted_local and domain.lower() == wanted_domain.lower()
    return _match_domain(domain, constraint)


def _match_uri(uri: str, constraint: str):
    host = urlsplit(uri).netloc.rpartition("@")[2]
    if not host:
        return f"URI with empty host ({_go_quote(uri)}) cannot be matched against constraints"
    if ":" in host and not host.endswith("]"):
        host = host.rpartition(":")[0]
    if (host.startswith("[") and host.endswith("]")) or as_ip(host) is not None:
        return f"URI with IP ({_go_quote(uri)}) cannot be matched against constraints"
    return _match_domain(host, constraint)


# Small helpers: DER, Go's formatting


def _tlv(data: bytes, offset: int) -> tuple[int, int, int, int]:
    """(tag, start, body start, end) of the DER element at ``offset``."""
    tag, length = data[offset], data[offset + 1]
    body = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[body:body + count], "big")
        body += count
    if body + length > len(data):
        raise ValueError("truncated DER")
    return tag, offset, body, body + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    items = []
    while start < end:
        item = _tlv(data, start)
        items.append(item)
        start = item[3]
    return items


def _algorithm_identifier(der: bytes, start: int, end: int) -> tuple[str, tuple[int, int]]:
    parts = _children(der, start, end)
    parameters = (parts[1][1], parts[1][3]) if len(parts) > 1 else (end, end)
    return _oid(der[parts[0][2]:parts[0][3]]), parameters


def _oid(body: bytes) -> str:
    numbers, value = [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    if not numbers:
        return ""
    first = min(numbers[0] // 40, 2)
    return ".".join(str(number) for number in [first, numbers[0] - 40 * first, *numbers[1:]])


def _name_of(name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[-1].value) if values else name.rfc4514_string()


def _go_quote(text: str) -> str:
    """Go's %q of a string (strconv.Quote)."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               "\\": "\\\\", '"': '\\"'}
    return '"' + "".join(escapes.get(char, char if char.isprintable() else f"\\x{ord(char):02x}")
                         for char in text) + '"'


def _go_time(moment: datetime.datetime) -> str:
    """Go's time.RFC3339: seconds, ``Z`` for UTC, else the offset."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _go_ip(address) -> str:
    """Go's net.IP.String(): an IPv4-mapped IPv6 address reads as the IPv4 address (and equals it)."""
    return str(getattr(address, "ipv4_mapped", None) or address)


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def daemon_go(pidfile: str = DEFAULT_PIDFILE) -> tuple[GoRules, str]:
    """The Go whose certificate rules the Docker daemon of this host applies, and where that came from.

    The running daemon (its pid file names it) or else the first ``dockerd`` found: its binary tells its Go
    version and default GODEBUG settings, and the running daemon's environment may override them.
    """
    binaries, environment = [], ""
    try:
        pid = int(Path(pidfile).read_text().strip())
        binaries.append(Path(f"/proc/{pid}/exe"))
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        environment = next((item[8:].decode("utf-8", "replace") for item in environ
                            if item.startswith(b"GODEBUG=")), "")
    except (OSError, ValueError):
        pass
    found = dockerd_binary()
    if found:
        binaries.append(Path(found))
    for binary in binaries:
        try:
            with binary.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                info = go_build_info(data)
            shown = os.path.realpath(binary)
        except (OSError, ValueError):
            continue
        if info is not None:
            rules = GoRules.parse(info[0], info[1], environment)
            return rules, f"{rules.name}, read from {shown}"
    return NEWEST, "unknown (no readable dockerd binary here): judged by the newest Go's rules"
