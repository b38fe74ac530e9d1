# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the trust of Podman and the rest of the containers/image family.

Podman, Buildah, Skopeo and CRI-O read a registry's CAs from ``/etc/containers/certs.d/<host:port>/*.crt`` (and
from ``/etc/docker/certs.d/<host:port>`` where the first does not exist), on every pull: nothing to reload. The
insecure fallback is a ``[[registry]]`` entry with ``insecure = true`` in a drop-in of
``/etc/containers/registries.conf.d/``, so that the distribution's ``registries.conf`` stays untouched; with it
they try HTTPS without verification, then plain HTTP. Podman, Skopeo and Buildah read registries.conf at each
run; a running CRI-O reads it again on ``systemctl reload crio``.

Credentials for root go to ``/root/.config/containers/auth.json``: the file every containers/image tool run as
root reads when its primary one (``${XDG_RUNTIME_DIR}/containers/auth.json``, ``/run/containers/0/auth.json``
for root, which ``podman login`` writes) has no entry for the registry, and, unlike that one, it survives a
reboot (containers-auth.json(5)).
"""

from __future__ import annotations

import base64
import json
import os

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    CLIENT_FILES,
    MARKER,
    ClientCertificate,
    Filesystem,
    Plan,
    RuntimeConfigError,
    absent_operation,
    check_address,
    check_common,
    client_operations,
    directory_operation,
    file_operation,
    owned,
    remove_if_emptied,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.tomlfile import basic_string, loads
from ansible_collections.dockyard.registry.plugins.module_utils._users import primary_group

CERTS_DIR = "/etc/containers/certs.d"
REGISTRIES_CONF = "/etc/containers/registries.conf"
DROPIN_DIR = "/etc/containers/registries.conf.d"
DROPIN_NAME = "50-dockyard-registry.conf"
AUTH_FILE = "/root/.config/containers/auth.json"
HUB = "docker.io"


def plan(addresses, ca_pem: str | bytes | None, mode: str, state: str, *, tls: bool = True, credentials=None,
         fs: Filesystem | None = None, certs_dir: str = CERTS_DIR, registries_conf: str = REGISTRIES_CONF,
         dropin_dir: str = DROPIN_DIR, dropin_name: str = DROPIN_NAME, auth_file: str = AUTH_FILE,
         auth_owner: str = "root", mirrors=(), login_addresses=None,
         mirror_client: ClientCertificate | None = None) -> Plan:
    """What makes the containers/image tools trust the registry at ``addresses``, or forget it.

    ``ca`` mode: ``<certs_dir>/<address>/ca.crt`` (0644, ``ca_pem``) per address, and no drop-in. ``insecure``
    mode: one drop-in ``<dropin_dir>/<dropin_name>`` (0644) with an insecure ``[[registry]]`` per address, and no
    ca.crt. ``credentials`` (``{"username": …, "password": …}``) become an entry per address in ``auth_file``
    (0600, in a directory made 0700), keeping its other entries (only ``login_addresses`` get one, where given:
    those the registry accepted the login at); ``absent`` removes the entries, the CA files,
    the emptied directories and the drop-in. registries.conf and every drop-in are parsed first: one that does
    not parse stops the plan with the file and line, since the tools would fail on it too.

    ``mirrors`` (host:port, over TLS) are Docker Hub's pull-through mirrors: each is trusted as the registry is
    (its CA in certs.d, or insecure), and the drop-in gets a docker.io ``[[registry]]`` whose
    ``[[registry.mirror]]`` entries the tools try first; that makes a drop-in in ``ca`` mode too. ``mirror_client``:
    the host's client certificate, which a mirror asks for: ``client.cert`` and ``client.key`` (0400) beside each
    mirror's CA (in ``ca`` mode; ``absent`` removes them).
    """
    addresses = check_common(addresses, mode, state, tls)
    mirrors = [mirror for mirror in mirrors if mirror not in addresses] if state == "present" else list(mirrors)
    for mirror in mirrors:
        check_address(mirror)
    fs = fs or Filesystem()
    dropin = f"{dropin_dir}/{dropin_name}"
    result = Plan("podman", found={"certs_dir": certs_dir, "dropin": dropin, "auth_file": auth_file})
    entries = _registry_entries(fs, registries_conf, dropin_dir, skip=dropin)
    result.found["registries_conf"] = registries_conf if fs.exists(registries_conf) else None
    pem = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
    if mode == "ca" and state == "present" and not pem:
        raise ValueError("ca mode needs the registry's CA certificate (ca_pem)")
    for address in addresses:
        for source, entry in entries:
            if address not in (entry.get("location"), entry.get("prefix")):
                continue
            if state == "present" and mode == "ca" and entry.get("insecure"):
                result.warnings.append(f"{source} marks {address} insecure: the containers/image tools do not verify "
                                       "its certificate whatever certs.d holds")
            elif state == "present" and mode == "insecure":
                result.warnings.append(f"{source} has an entry for {address}: {dropin} replaces it for the "
                                       "containers/image tools (drop-ins come after registries.conf)")
    if mirrors and state == "present":
        result.warnings += [f"{source} has an entry for {HUB}: {dropin} replaces it with the mirrors' for the "
                            "containers/image tools (drop-ins come after registries.conf)"
                            for source, entry in entries if HUB in (entry.get("location"), entry.get("prefix"))]
    for address in addresses + [mirror for mirror in mirrors if mirror not in addresses]:
        directory = f"{certs_dir}/{address}"
        client = mirror_client if address in mirrors and (mode == "ca" or state == "absent") else None
        if state == "present" and mode == "ca":
            result.operations += [directory_operation(fs, directory), file_operation(fs, f"{directory}/ca.crt", pem, 0o644)]
            result.operations += client_operations(fs, directory, client, present=True)
        else:
            result.operations += [absent_operation(fs, f"{directory}/ca.crt")]
            result.operations += client_operations(fs, directory, client, present=False)
            result.operations += remove_if_emptied(fs, directory, ["ca.crt", *(CLIENT_FILES if client else ())])
    existing = fs.read(dropin)
    if state == "present" and (mode == "insecure" or mirrors):
        if existing is not None and not owned(existing):
            result.warnings.append(f"{dropin} was not written by dockyard.registry: replaced (see the diff)")
        content = dropin_content(addresses if mode == "insecure" else [], mirrors, insecure_mirrors=mode == "insecure")
        result.operations += [directory_operation(fs, dropin_dir), file_operation(fs, dropin, content, 0o644)]
    elif existing is not None and owned(existing):
        result.operations.append(absent_operation(fs, dropin))
    logins = addresses if login_addresses is None else [address for address in addresses if address in login_addresses]
    result.operations += _auth_operations(fs, auth_file, logins, credentials, state, auth_owner)
    return result


def dropin_content(addresses, mirrors=(), *, insecure_mirrors: bool = False) -> bytes:
    """The registries.conf drop-in: an insecure ``[[registry]]`` per address (the insecure fallback), and Docker
    Hub's pull-through ``mirrors`` (each verified, or not with ``insecure_mirrors``)."""
    what = " and ".join(part for part, wanted in (("the registry without TLS verification (the insecure fallback)",
                                                   addresses), ("Docker Hub's pull-through mirrors", mirrors)) if wanted)
    lines = [f"{MARKER}: {what}.",
             "# Written again on every run of the registry_trust role: change its variables, not this file."]
    for address in addresses:
        lines += ["", "[[registry]]", f"location = {basic_string(address)}", "insecure = true"]
    if mirrors:
        lines += ["", "[[registry]]", f"prefix = {basic_string(HUB)}", f"location = {basic_string(HUB)}"]
        for mirror in mirrors:
            lines += ["", "[[registry.mirror]]", f"location = {basic_string(mirror)}"]
            if insecure_mirrors:
                lines.append("insecure = true")
    return ("\n".join(lines) + "\n").encode()


def _registry_entries(fs: Filesystem, registries_conf: str, dropin_dir: str, skip: str) -> list:
    """(file, entry) for every registry entry of registries.conf and its drop-ins, each file parsed (and checked).

    Version 1 files list insecure registries in ``[registries.insecure] registries``; they come back as entries
    ``{"location": …, "insecure": True}``.
    """
    paths = [registries_conf] + [f"{dropin_dir}/{name}" for name in fs.listdir(dropin_dir) if name.endswith(".conf")]
    found = []
    for path in paths:
        if path == skip:
            continue
        content = fs.read(path)
        if content is None:
            continue
        document = loads(content, path)
        for entry in document.get("registry") or []:
            if isinstance(entry, dict):
                found.append((path, entry))
        insecure = ((document.get("registries") or {}).get("insecure") or {}).get("registries") or []
        found += [(path, {"location": location, "insecure": True}) for location in insecure]
    return found


def _auth_operations(fs: Filesystem, auth_file: str, addresses, credentials, state: str, owner: str) -> list:
    content = fs.read(auth_file)
    document = _auth_document(content, auth_file)
    auths = document.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise RuntimeConfigError(f"{auth_file}: auths must be a JSON object; fix the file by hand, nothing was changed")
    before = json.dumps(auths, sort_keys=True)
    if state == "present" and credentials:
        token = base64.b64encode(f"{credentials['username']}:{credentials['password']}".encode()).decode()
        for address in addresses:
            auths[address] = {"auth": token}
    elif state == "absent":
        for address in addresses:
            auths.pop(address, None)
    if json.dumps(auths, sort_keys=True) == before:
        return []
    operations = []
    directory = os.path.dirname(auth_file)
    for parent in _missing_parents(fs, directory):
        operations.append(directory_operation(fs, parent, 0o700, owner=owner, group=primary_group(owner)))
    text = json.dumps(document, indent="\t") + "\n"
    operations.append(file_operation(fs, auth_file, text.encode(), 0o600, owner=owner, group=primary_group(owner),
                                     secret=True))
    return operations


def _auth_document(content: bytes | None, path: str) -> dict:
    if content is None or not content.strip():
        return {}
    try:
        document = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise RuntimeConfigError(f"{path} is not UTF-8 JSON; fix or remove it by hand, nothing was changed") from None
    except json.JSONDecodeError as exc:
        raise RuntimeConfigError(f"{path} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}. Fix "
                                 "the file by hand; nothing was changed.") from None
    if not isinstance(document, dict):
        raise RuntimeConfigError(f"{path} must hold a JSON object; fix the file by hand, nothing was changed")
    return document


def _missing_parents(fs: Filesystem, directory: str) -> list:
    missing = []
    while directory not in ("", "/") and not fs.exists(directory):
        missing.insert(0, directory)
        directory = os.path.dirname(directory)
    return missing


def trust_report(address: str, fs: Filesystem | None = None, *, certs_dirs=(CERTS_DIR, "/etc/docker/certs.d"),
                 registries_conf: str = REGISTRIES_CONF, dropin_dir: str = DROPIN_DIR) -> dict:
    """Which files the containers/image tools read for ``address`` and whether they verify its certificate.

    ``reads``: the ``*.crt`` of the first certs.d directory that exists for the address (containers', then
    Docker's), and the registries.conf files with an entry for it; ``verifies`` is False where an entry marks
    it insecure (the last file read wins, as drop-ins do).
    """
    fs = fs or Filesystem()
    directory = next((f"{d}/{address}" for d in certs_dirs if fs.exists(f"{d}/{address}")), None)
    crts = [f"{directory}/{name}" for name in fs.listdir(directory) if name.endswith(".crt")] if directory else []
    entries = [(source, entry) for source, entry in _registry_entries(fs, registries_conf, dropin_dir, skip="")
               if address in (entry.get("location"), entry.get("prefix"))]
    insecure = bool(entries[-1][1].get("insecure")) if entries else False
    return {"runtime": "podman", "reads": crts + [source for source, _entry in entries], "verifies": not insecure,
            "ca": crts or None}


# Signatures: the containers/image family refuses, by policy, an image of the registry that has no valid signature.

POLICY_FILE = "/etc/containers/policy.json"
REGISTRIES_D = "/etc/containers/registries.d"
REGISTRIES_D_NAME = "dockyard-registry.yaml"
# A host without policy.json refuses every image; the Debian package's own file accepts anything, as this one does.
DEFAULT_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}
SIGSTORE_SIGNED = "sigstoreSigned"


def signature_requirement(public_keys: list[str]) -> dict:
    """A ``sigstoreSigned`` requirement accepting a signature by any of ``public_keys`` (PEM texts).

    ``keyData`` (one key) or ``keyDatas`` (several; Podman 4.8 and later) hold the keys themselves, so that the policy
    needs no key files. ``matchRepository`` accepts the identity cosign writes (the repository, without a tag) as
    well as the one skopeo writes (with the tag).
    """
    datas = [base64.b64encode(key.strip().encode() + b"\n").decode() for key in public_keys]
    keys = {"keyData": datas[0]} if len(datas) == 1 else {"keyDatas": datas}
    return {"type": SIGSTORE_SIGNED, **keys, "signedIdentity": {"type": "matchRepository"}}


def _policy_document(content: bytes | None, path: str) -> dict:
    """policy.json as a dict, or a RuntimeConfigError naming what is wrong: the tools would refuse it too."""
    if content is None:
        return json.loads(json.dumps(DEFAULT_POLICY))
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuntimeConfigError(f"{path} is not valid JSON ({exc}): the containers/image tools cannot read it either. "
                                 "Fix the file by hand; nothing was changed") from None
    transports = document.get("transports", {}) if isinstance(document, dict) else None
    docker_scopes = transports.get("docker", {}) if isinstance(transports, dict) else None
    if not isinstance(document, dict) or not isinstance(document.get("default"), list) \
            or not isinstance(docker_scopes, dict):
        raise RuntimeConfigError(f"{path} is not a containers-policy.json(5) policy (an object with a default list, "
                                 "and transports.docker an object of scopes). Fix the file by hand; nothing was changed")
    return document


def _ours(requirements) -> bool:
    """Whether a scope's requirements are what signature_plan writes (so that taking them out is ours to do)."""
    return (isinstance(requirements, list) and len(requirements) == 1 and isinstance(requirements[0], dict)
            and requirements[0].get("type") == SIGSTORE_SIGNED
            and requirements[0].get("signedIdentity") == {"type": "matchRepository"})


def signature_plan(addresses, policy: str, public_keys=(), *, state: str = "present", fs: Filesystem | None = None,
                   policy_file: str = POLICY_FILE, registries_d: str = REGISTRIES_D,
                   registries_d_name: str = REGISTRIES_D_NAME) -> Plan:
    """The signature policy for the registry at ``addresses``: with ``policy`` ``enforce`` (and ``state`` present),
    a ``sigstoreSigned`` scope per address in ``policy_file`` (every other scope and the default kept, a backup of
    the file it replaces) and ``use-sigstore-attachments`` for each address in ``<registries_d>/<registries_d_name>``;
    with ``off`` or ``absent``, those scopes (where they are still as written here) and that file taken out.

    A policy.json that does not parse, or is no policy, stops the plan with the reason and nothing changed.
    """
    fs = fs or Filesystem()
    enforce = policy == "enforce" and state == "present"
    if enforce and not public_keys:
        raise ValueError("an enforced signature policy needs public keys")
    result = Plan("podman", found={"policy_file": policy_file})
    current = fs.read(policy_file)
    try:
        document = _policy_document(current, policy_file)
    except RuntimeConfigError as exc:
        if enforce:
            raise
        # Off, the file is only read for scopes an earlier enforce wrote; one the tools cannot read has none of ours.
        result.warnings.append(str(exc))
        document = None
    if document is not None:
        scopes = document.setdefault("transports", {}).setdefault("docker", {})
        before = json.dumps(document, sort_keys=True)
        for address in addresses:
            if enforce:
                scopes[address] = [signature_requirement(list(public_keys))]
            elif _ours(scopes.get(address)):
                del scopes[address]
        if json.dumps(document, sort_keys=True) != before and (current is not None or enforce):
            content = (json.dumps(document, indent=4) + "\n").encode()
            result.operations += [directory_operation(fs, os.path.dirname(policy_file)),
                                  file_operation(fs, policy_file, content, 0o644, backup=True)]
    attachments = f"{registries_d}/{registries_d_name}"
    existing = fs.read(attachments)
    if enforce:
        lines = [f"{MARKER}: the registry's cosign signatures are read from the registry itself (tags sha256-<digest>.sig).",
                 "# Written again on every run of the registry_trust role: change its variables, not this file.",
                 "docker:"]
        for address in addresses:
            lines += [f"  {json.dumps(address)}:", "    use-sigstore-attachments: true"]
        if existing is not None and not owned(existing):
            result.warnings.append(f"{attachments} was not written by dockyard.registry: replaced (see the diff)")
        result.operations += [directory_operation(fs, registries_d),
                              file_operation(fs, attachments, ("\n".join(lines) + "\n").encode(), 0o644)]
    elif existing is not None and owned(existing):
        result.operations.append(absent_operation(fs, attachments))
    return result
