"""Private to dockyard.registry: names, addresses and ports, the one reading of each for the whole collection.

A name is what a certificate or a configuration file holds for a host (:func:`name_problem`); an address is
``host[:port]``, where an IPv6 host is in brackets, as image references, certs.d directories and registries.conf
write it (:func:`address_problem`, :func:`split_host_port`); a registry's address may carry a scheme
(:func:`parse_address`). Pure functions, shared by the filter plugins and the modules. A certificate's
subjectAltName entries are written the way community.crypto takes them (``DNS:name``, ``IP:address``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def name_problem(name, wildcard=False):
    """Return why ``name`` cannot be a registry name or address, or None when it can.

    The one rule for every name and address the collection writes into a certificate, a configuration file or a
    command line. Accepted: an IPv4 or IPv6 address (IPv6 may be in brackets, never with a zone), or a DNS name
    made of labels of letters, digits and inner hyphens (RFC 1123). With ``wildcard``, a DNS name may start with
    ``*.`` (a certificate brought along may carry one). A port does not belong here (it is registry_port).
    """
    if not isinstance(name, str):
        return f"{name!r} is not a string"
    if not name:
        return "an empty entry"
    if name != name.strip() or any(c.isspace() for c in name):
        return f"{name!r} contains white space"
    if not name.isprintable() or not name.isascii():
        return f"{name!r} contains characters other than letters, digits, dots, hyphens and colons"
    ip = _as_ip(name)
    if ip is not None:
        if getattr(ip, "scope_id", None):
            return f"{name!r} has a zone (%{ip.scope_id}); give the address alone"
        if name.startswith("[") and ip.version != 6:
            return f"{name!r} is an IPv4 address in brackets; give it without them (brackets are for IPv6)"
        return None
    if wildcard and name.startswith("*."):
        problem = name_problem(name[2:])
        if problem is None and _as_ip(name[2:]) is None:
            return None
        return f"{name!r} is not a wildcard DNS name (*. and a DNS name)"
    if re.fullmatch(r"[^:\[\]]+:\d+", name):
        return f"{name!r} has a port; list the name alone, the port is registry_port"
    if len(name) > 253:
        return f"{name!r} is longer than 253 characters"
    labels = name.lower().split(".")
    if all(label.isdigit() for label in labels):
        return f"{name!r} is neither a valid IP address nor a DNS name"
    for label in labels:
        if not _LABEL.match(label):
            return (f"{name!r} is not a DNS name (label {label!r}: letters, digits and inner "
                    "hyphens only, 1 to 63 characters) nor an IP address")
    return None


def name_problems(names):
    """Every problem in a list of names, one message each (empty when all are fine)."""
    if names is None:
        return []
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        return [f"expected a list of names, got {type(names).__name__} {names!r}"]
    problems = []
    for index, name in enumerate(names):
        problem = name_problem(name)
        if problem:
            problems.append(f"entry {index}: {problem}")
    return problems


def san_entry(name):
    """The subjectAltName entry for one name: ``IP:`` for an address, ``DNS:`` otherwise.

    Raises ValueError saying what is wrong with a malformed name.
    """
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    ip = _as_ip(name)
    return f"IP:{ip.compressed}" if ip is not None else f"DNS:{name.lower()}"


def san_entries(names):
    """subjectAltName entries for ``names``, duplicates dropped (the first one kept).

    Raises ValueError naming the first malformed name.
    """
    entries = []
    for name in names:
        entry = san_entry(name)
        if entry not in entries:
            entries.append(entry)
    return entries


def san_problem(entry):
    """Why a ``DNS:`` or ``IP:`` subjectAltName entry is not a name or address of its kind (a DNS name may be a
    wildcard), or None; other kinds of entry are no address and are not judged here."""
    kind, _colon, value = entry.partition(":")
    if kind not in ("DNS", "IP"):
        return None
    problem = name_problem(value, wildcard=kind == "DNS")
    if problem is None and (kind == "IP") != (_as_ip(value) is not None):
        problem = f"{value!r} is not {'an IP address' if kind == 'IP' else 'a DNS name'}"
    return f"subjectAltName {entry!r}: {problem}" if problem else None


def client_addresses(sans, port):
    """``host:port`` strings for every subjectAltName a Docker client may use.

    Loopback names and addresses are left out: Docker treats them as insecure registries and
    never reads certs.d for them. Wildcard names cannot be addressed and are left out too.
    IPv6 addresses are bracketed, as in image references.

    Raises ValueError naming the first ``DNS:`` or ``IP:`` entry that is not a valid name or
    address (see :func:`name_problem`): nothing else becomes an address in a configuration file.
    """
    addresses = []
    for entry in sans:
        kind, _colon, value = entry.partition(":")
        problem = san_problem(entry)
        if problem:
            raise ValueError(problem)
        if kind == "IP":
            ip = ipaddress.ip_address(value)
            if ip.is_loopback:
                continue
            host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
        elif kind == "DNS":
            if value == "localhost" or value.endswith(".localhost") or value.startswith("*"):
                continue
            host = value
        else:
            continue
        address = f"{host}:{int(port)}"
        if address not in addresses:
            addresses.append(address)
    return addresses


def host_names(host):
    """What a host is known by, from its hostvars: inventory name, ansible_host, FQDN, default IPv4 address.

    The FQDN and the address come from the facts the collection's modules return (``dockyard_host``) or,
    where those are missing, from Ansible's own facts. Missing ones are left out, so are names no certificate
    can hold (an inventory name with an underscore, say).
    """
    facts = host.get("ansible_facts") or {}
    known = facts.get("dockyard_host") or {}
    candidates = [host.get("inventory_hostname"), host.get("ansible_host"), known.get("fqdn") or facts.get("fqdn"),
                  known.get("default_ipv4") or (facts.get("default_ipv4") or {}).get("address")]
    names = []
    for name in candidates:
        if name and not name_problem(name) and name not in names:
            names.append(name)
    return names


def certificate_sans(names, identity, extra_names):
    """The subjectAltName entries of a registry host's certificate, in the one order both sides compute.

    ``names`` (what the inventory calls the host), then its FQDN and default IPv4 address (``identity``, the fact
    ``dockyard_host``), then ``extra_names`` (``registry_names`` and the load balancers' names). Names of the first
    two kinds that no certificate can hold (an inventory name with an underscore, say) are left out; a bad entry of
    ``extra_names`` raises ValueError naming it.
    """
    identity = identity or {}
    known = [name for name in [*names, identity.get("fqdn"), identity.get("default_ipv4")]
             if name and not name_problem(name)]
    return san_entries(known + list(extra_names))


def host_file_name(host):
    """``host`` (an inventory name) as it names a file on the controller, ``<pki_dir>/servers/<host>.crt``.

    Raises ValueError for a name that would leave that directory or could not be a file name: a slash, a NUL,
    a line break or another control character, or a name of dots alone.
    """
    if not isinstance(host, str) or not host:
        raise ValueError(f"the inventory host name {host!r} cannot name a file")
    bad = sorted({character for character in host if character == "/" or not character.isprintable()})
    if bad or set(host) == {"."}:
        what = ", ".join(repr(character) for character in bad) if bad else "dots alone"
        raise ValueError(f"the inventory host name {host!r} cannot name its certificate's file on the controller "
                         f"(it has {what}): rename the host in the inventory, with ansible_host for its address")
    return host


def certificate_copy(pki_dir, host):
    """The controller's copy of the registry host's certificate, ``<pki_dir>/servers/<host>.crt``.

    Raises ValueError for a host name that cannot name a file there (see :func:`host_file_name`).
    """
    return os.path.join(pki_dir, "servers", f"{host_file_name(host)}.crt")


def missing_names(sans, names):
    """The ``names`` that the subjectAltName entries ``sans`` do not cover."""
    covered = {"DNS:" + san[4:].lower() if san.startswith("DNS:") else san for san in sans}
    return [name for name in names if name and san_entry(name) not in covered]


def as_ip(text):
    """``text`` as an IPv4 or IPv6 address (``ipaddress``), or None where it is none: the one test for "an IP
    address or a name". Brackets are not taken off (see :func:`bracketed_ipv6`)."""
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _as_ip(name):
    """A name's address, where it is one: an IPv6 address may be in brackets."""
    return as_ip(name[1:-1] if name.startswith("[") and name.endswith("]") else name)


def bracketed_ipv6(host):
    """The IPv6 address of ``[address]``, or None where ``host`` is no IPv6 address in brackets or has a zone."""
    if not (isinstance(host, str) and host.startswith("[") and host.endswith("]")):
        return None
    ip = as_ip(host[1:-1])
    return ip if ip is not None and ip.version == 6 and not ip.scope_id else None


# Addresses: host[:port]


def split_host_port(address):
    """``(host, port)`` of ``host[:port]``: the host as written (an IPv6 host keeps its brackets), the port's text
    after the last colon that follows them, or None without one. Nothing is judged here (see
    :func:`address_problem`)."""
    colon = address.rfind(":")
    if colon > address.rfind("]"):
        return address[:colon], address[colon + 1:]
    return address, None


def port_problem(port):
    """Why ``port`` (an int, or the text after the colon of ``host:port``) is no TCP port, or None."""
    text = str(port)
    if isinstance(port, bool) or not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        return f"the port {port!r} is not a number from 1 to 65535"
    return None


def _host_problem(host):
    """Why ``host`` cannot be the host of an address, or None: a name or IPv4 address (:func:`name_problem`), or an
    IPv6 address in brackets."""
    if host.startswith("[") or host.endswith("]"):
        if bracketed_ipv6(host) is None:
            return f"{host} is not an IPv6 address in brackets"
        return None
    if ":" in host:
        return f"{host!r} is neither a name nor an IPv4 address (an IPv6 address goes in brackets: [address]:port)"
    return name_problem(host)


def address_problem(address):
    """Why ``address`` is not ``host[:port]``, or None.

    The host as :func:`_host_problem` takes it, the port 1 to 65535. An address names a directory (certs.d, the
    hosts directory of containerd) and an entry of the runtimes' files: nothing else may reach those paths.
    """
    if not isinstance(address, str):
        return f"{address!r} is not a string"
    host, port = split_host_port(address)
    if not host:
        return "it has no host"
    problem = _host_problem(host)
    if problem:
        return f"the host {problem}"
    return port_problem(port) if port is not None else None


def address_host(address):
    """The host of ``host[:port]`` as a resolver takes it (an IPv6 address without its brackets)."""
    host, _port = split_host_port(address)
    return host[1:-1] if bracketed_ipv6(host) is not None else host


class AddressError(ValueError):
    """A registry's address is not ``[http://|https://]host[:port]``."""


@dataclasses.dataclass(frozen=True)
class RegistryAddress:
    """Where a registry answers, and the name Docker gives it (certs.d directory and image references)."""

    scheme: str
    host: str  # an IPv6 address without brackets, as a socket takes it
    port: int
    name: str  # host:port as in image references; host alone for 443, as Docker writes it

    @property
    def is_ip(self) -> bool:
        return as_ip(self.host) is not None

    @property
    def is_loopback(self) -> bool:
        address = as_ip(self.host)
        return address.is_loopback if address else self.host == "localhost"


def parse_address(value):
    """``host:port``, ``[v6]:port`` or ``host`` (port 443), optionally behind ``https://`` or ``http://``.

    Raises :class:`AddressError` naming the option (``registry``) and saying what is wrong.
    """
    if not isinstance(value, str) or not value.strip():
        raise AddressError("registry: give the registry's address as host:port, for example registry.example.com:5000")
    text = value.strip()
    scheme = "https"
    if "://" in text:
        scheme, _sep, text = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise AddressError(f"registry: {value!r}: the scheme may only be https:// (the default) or http://")
    if not text or any(char in text for char in "/?#@ "):
        raise AddressError(f"registry: {value!r} is not host:port; give the address without a path, "
                           "for example registry.example.com:5000")
    problem = address_problem(text)
    if problem:
        raise AddressError(f"registry: {value!r}: {problem}")
    host, port = split_host_port(text.lower())
    number = int(port) if port is not None else (443 if scheme == "https" else 80)
    name = host if port is None and number == 443 else f"{host}:{number}"
    return RegistryAddress(scheme, address_host(host), number, name)


# Mirrors: https://host[:port]

_MIRROR_URL = re.compile(r"https://(?P<address>[^/?#@]*)/?")


def mirror_url_problem(url):
    """Return why ``url`` cannot be a registry mirror's URL (a sentence that does not repeat it), or None when it can.

    Accepted: ``https://<host>[:<port>]`` and an optional final slash, where the host is a DNS name or an IPv4
    address as :func:`name_problem` accepts them, or an IPv6 address in brackets, and the port is 1 to 65535. The
    ``host[:port]`` names the mirror's directory in certs.d: nothing else may reach that path.
    """
    if not isinstance(url, str):
        return f"{url!r} is not a string"
    match = _MIRROR_URL.fullmatch(url)
    if not match:
        return "it has another scheme than https, a user, a path or a query"
    return address_problem(match["address"])


def mirror_address(url):
    """The ``host[:port]`` of a mirror's URL, as the Docker daemon names its directory in certs.d.

    Raises ValueError saying what is wrong with a URL :func:`mirror_url_problem` refuses.
    """
    problem = mirror_url_problem(url)
    if problem:
        raise ValueError(problem)
    return _MIRROR_URL.fullmatch(url)["address"]
