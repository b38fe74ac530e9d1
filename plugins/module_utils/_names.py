"""Private to dockyard.registry: the names and addresses clients use to reach a registry.

Pure functions, shared by the filter plugins and the modules. A certificate's subjectAltName
entries are written the way community.crypto takes them (``DNS:name``, ``IP:address``).
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def name_problem(name):
    """Return why ``name`` cannot be a registry name or address, or None when it can.

    Accepted: an IPv4 or IPv6 address (IPv6 may be in brackets), or a DNS name made of
    labels of letters, digits and hyphens. A port does not belong here (it is registry_port).
    """
    if not isinstance(name, str):
        return f"{name!r} is not a string"
    if not name:
        return "an empty entry"
    if name != name.strip() or any(c.isspace() for c in name):
        return f"{name!r} contains white space"
    if _as_ip(name) is not None:
        return None
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


def client_addresses(sans, port):
    """``host:port`` strings for every subjectAltName a Docker client may use.

    Loopback names and addresses are left out: Docker treats them as insecure registries and
    never reads certs.d for them. Wildcard names cannot be addressed and are left out too.
    IPv6 addresses are bracketed, as in image references.
    """
    addresses = []
    for entry in sans:
        kind, _colon, value = entry.partition(":")
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


def balancer_names(host):
    """What clients call a load balancer by, from its hostvars: its inventory name and ``ansible_host``.

    Unlike :func:`host_names`, no fact: every replica's certificate names the load balancers, and names that came
    and went with the facts of a run would renew the certificates.
    """
    names = []
    for name in (host.get("inventory_hostname"), host.get("ansible_host")):
        if name and not name_problem(name) and name not in names:
            names.append(name)
    return names


def missing_names(sans, names):
    """The ``names`` that the subjectAltName entries ``sans`` do not cover."""
    covered = {"DNS:" + san[4:].lower() if san.startswith("DNS:") else san for san in sans}
    return [name for name in names if name and san_entry(name) not in covered]


def _as_ip(name):
    candidate = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None
