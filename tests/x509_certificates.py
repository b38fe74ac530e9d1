"""The one builder of the tests' certificates: for the unit, integration and molecule tests and the benchmarks.

``Authority`` is a CA (self-signed, or an intermediate under another) that issues certificates with whatever
extensions a test needs. By default it is a CA as the registry_pki role makes one (ECDSA P-256, CA:TRUE and
keyCertSign and cRLSign, both critical, a subject key identifier), and what it issues carries the authority key
identifier that leads back to it, as ``_pki.sign`` gives it: Python 3.13 verifies strictly (VERIFY_X509_STRICT) and
refuses a chain without them. ``registry_ca`` is the role's CA itself (pathlen 0). A test that needs a defective
certificate says so with the option that makes it (``ca=None``, ``usage=...``, ``key_ids=False``, ``extensions``).

Certificates made to break one rule of Go's verifier at a time are made with the same builder. What
``cryptography`` will not make (SHA-1, MD5 and, before 41, RSA-PSS signatures; version 1 certificates; RSA keys
under 1024 bits) is made here from the DER of a certificate it did make, so that the same code runs under
cryptography 38 (Debian 12) and the controller's newer one.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)
# Signature algorithm -> the DER of its OID, and the hash it signs with.
_ALGORITHMS = {
    "sha1-rsa": ("06092a864886f70d010105", "SHA1"),
    "md5-rsa": ("06092a864886f70d010104", "MD5"),
    "sha224-rsa": ("06092a864886f70d01010e", "SHA224"),
    "sha256-rsa": ("06092a864886f70d01010b", "SHA256"),
    "ecdsa-sha1": ("06072a8648ce3d0401", "SHA1"),
    "sha256-rsapss": ("06092a864886f70d01010a", "SHA256"),  # with a 32-byte salt: the form Go takes
    "sha256-rsapss-salt16": ("06092a864886f70d01010a", "SHA256"),  # Go takes no other salt length
}
_SHA256_IDENTIFIER = "300d06096086480165030402010500"
_MGF1 = "06092a864886f70d010108"


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def general_names(names) -> list:
    """IP addresses become IP SANs, ``mailto:`` and ``uri:`` prefixes email and URI SANs, the rest DNS SANs."""
    result = []
    for item in names:
        if item.startswith("mailto:"):
            result.append(x509.RFC822Name(item[7:]))
        elif item.startswith("uri:"):
            result.append(x509.UniformResourceIdentifier(item[4:]))
        else:
            try:
                result.append(x509.IPAddress(ipaddress.ip_address(item)))
            except ValueError:
                try:
                    result.append(x509.IPAddress(ipaddress.ip_network(item)))
                except ValueError:
                    result.append(x509.DNSName(item))
    return result


def key_usage(*bits: str) -> x509.KeyUsage:
    """A key usage extension with the named bits (``key_cert_sign``, ``digital_signature``, ...)."""
    fields = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
              "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{field: field in bits for field in fields})


# What the registry_pki role gives its CA: it signs certificates and revocation lists, nothing else.
CA_USAGE = key_usage("key_cert_sign", "crl_sign")


def pem(*certificates) -> bytes:
    return b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in certificates)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def build(subject: str, key, issuer=None, *, now: datetime.datetime, sans=(), ca: bool | None = None,
          path_length: int | None = None, usage: x509.KeyUsage | None = None, extended_usage=None,
          permitted=None, excluded=None, extensions=(), not_before=None, not_after=None,
          hash_algorithm=None, key_ids: bool = False) -> x509.Certificate:
    """One certificate. ``issuer`` is an Authority (None: self-signed); ``ca`` None leaves out basic constraints;
    ``key_ids`` adds the subject key identifier and, under an issuer, the authority key identifier."""
    signer_key = issuer.key if issuer else key
    builder = (x509.CertificateBuilder().subject_name(name(subject))
               .issuer_name(issuer.certificate.subject if issuer else name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - DAY).not_valid_after(not_after or now + 30 * DAY))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                                        critical=True)
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if extended_usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_usage)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names(sans)), critical=False)
    if permitted is not None or excluded is not None:
        builder = builder.add_extension(x509.NameConstraints(
            general_names(permitted) if permitted is not None else None,
            general_names(excluded) if excluded is not None else None), critical=True)
    if key_ids:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    default = hashes.SHA256() if isinstance(signer_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)) else None
    return builder.sign(signer_key, hash_algorithm or default)


class Authority:
    """A CA: self-signed, or under ``issuer``. It issues leaves and intermediates with any extensions.

    Unless told otherwise it carries CA:TRUE, :data:`CA_USAGE` and its key identifiers, as the role's CA does.
    """

    def __init__(self, common_name: str, issuer: Authority | None = None, *, now: datetime.datetime | None = None,
                 key=None, **options) -> None:
        self.now = now or datetime.datetime.now(UTC)
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        options.setdefault("ca", True)
        if options["ca"]:
            options.setdefault("usage", CA_USAGE)
        options.setdefault("key_ids", True)
        options.setdefault("not_before", self.now - 365 * DAY)
        options.setdefault("not_after", self.now + 365 * DAY)
        self.issuer = issuer
        self.certificate = build(common_name, self.key, issuer, now=self.now, **options)

    @property
    def pem(self) -> bytes:
        return pem(self.certificate)

    @property
    def chain(self) -> list:
        """The intermediates from this CA up to (not including) the root, as a server sends them."""
        return [self.certificate, *self.issuer.chain] if self.issuer else []

    def issue(self, sans=(), common_name: str = "registry", key=None, **options) -> x509.Certificate:
        options.setdefault("key_ids", True)
        return build(common_name, key or ec.generate_private_key(ec.SECP256R1()), self, now=self.now, sans=sans,
                     **options)

    def issue_with_key(self, sans=(), key=None, **options):
        """(certificate, its key): for a server that must present it."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        return self.issue(sans, key=key, **options), key


def registry_ca(common_name: str = "dockyard registry CA", **options) -> Authority:
    """A CA as the registry_pki role makes one: ECDSA P-256, CA:TRUE with pathlen 0 and keyCertSign and cRLSign (both
    critical), a subject key identifier."""
    options.setdefault("path_length", 0)
    return Authority(common_name, **options)


# What cryptography will not make, made from the DER of what it did


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _element(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _elements(data: bytes) -> list[bytes]:
    """The DER elements of a SEQUENCE's body, each whole."""
    items, offset = [], 0
    while offset < len(data):
        size, head = data[offset + 1], 2
        if size & 0x80:
            count = size & 0x7F
            size, head = int.from_bytes(data[offset + 2:offset + 2 + count], "big"), 2 + count
        items.append(data[offset:offset + head + size])
        offset += head + size
    return items


def _strip(element: bytes) -> bytes:
    size = element[1]
    return element[2 + (size & 0x7F if size & 0x80 else 0):]


def resign(certificate: x509.Certificate, issuer_key, algorithm: str, *, version1: bool = False) -> x509.Certificate:
    """``certificate`` signed again by ``issuer_key`` with ``algorithm`` (a key of _ALGORITHMS).

    ``version1`` also drops the version field and the extensions: a version 1 certificate.
    """
    oid, hash_name = _ALGORITHMS[algorithm]
    salt = 16 if algorithm.endswith("salt16") else 32
    if "rsapss" in algorithm:  # RSASSA-PSS-params: SHA-256, MGF1 with SHA-256, the salt length
        sha256 = bytes.fromhex(_SHA256_IDENTIFIER)
        parameters = _element(0x30, _element(0xA0, sha256)
                              + _element(0xA1, _element(0x30, bytes.fromhex(_MGF1) + sha256))
                              + _element(0xA2, _element(0x02, bytes([salt]))))
    else:
        parameters = b"" if algorithm.startswith("ecdsa") else b"\x05\x00"
    identifier = _element(0x30, bytes.fromhex(oid) + parameters)
    fields = _elements(_strip(certificate.tbs_certificate_bytes))
    if version1:
        fields = [field for field in fields if field[0] not in (0xA0, 0xA3)]
    index = 1 if fields[0][0] == 0xA0 else 0
    fields[index + 1] = identifier
    tbs = _element(0x30, b"".join(fields))
    digest = getattr(hashes, hash_name)()
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        scheme = padding.PSS(padding.MGF1(digest), salt) if "rsapss" in algorithm else padding.PKCS1v15()
        signature = issuer_key.sign(tbs, scheme, digest)
    else:
        signature = issuer_key.sign(tbs, ec.ECDSA(digest))
    return x509.load_der_x509_certificate(_element(0x30, tbs + identifier + _element(0x03, b"\x00" + signature)))


def small_rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """An RSA key of ``bits`` bits, below the 1024 that cryptography's generate_private_key insists on."""
    exponent = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits - bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % exponent and (p * q).bit_length() == bits:
            break
    d = pow(exponent, -1, phi)
    public = rsa.RSAPublicNumbers(exponent, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public).private_key()


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if all(candidate % small for small in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47)) and all(
                _probably_prime(candidate, secrets.randbelow(candidate - 3) + 2) for _round in range(32)):
            return candidate


def _probably_prime(n: int, base: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    x = pow(base, d, n)
    if x in (1, n - 1):
        return True
    for _round in range(s - 1):
        x = pow(x, 2, n)
        if x == n - 1:
            return True
    return False
