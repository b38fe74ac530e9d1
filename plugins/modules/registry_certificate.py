# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_certificate
short_description: The registry host's TLS key and certificate, the key made on the host, the certificate from the controller's CA
version_added: 0.2.0
description:
  - On the registry host, makes the server's private key where it is used (C(server.key), 0400, owned by
    O(key_owner)) unless one of
    the type asked for is there, and judges the certificate the host has (C(server.crt)) against the key, the names
    it must carry, the CA that must have issued it and the renewal window.
  - Where a certificate is due, the action plugin signs the host's certificate request with the CA on the
    controller (whose key never leaves it) and the module installs the certificate (0444). The CA bundle the
    registry_server role's health check trusts goes beside it as C(ca.crt) (0444).
  - The names are O(names), then the host's own FQDN and default IPv4 address, then O(extra_names); the first is
    the common name.
  - The controller's CA signs a request only when its signature verifies and its subjectAltNames are exactly the
    names the controller computes for the host from O(names), the FQDN and address the host reports, and
    O(extra_names); anything else fails naming the names asked for beyond them and those missing, and no
    certificate is issued. The certificate carries the computed names, never the request's own subject.
  - O(extra_names) are checked before the host is asked (RFC 1123 DNS names, IP addresses), and so is the inventory
    host name, which names the copy kept on the controller (no C(/), line break or other control character).
  - With O(certificate) and O(private_key) given (a certificate brought along), installs them instead, after
    checking that the key belongs to the certificate, that it has not expired, that it names every name of
    O(extra_names) and the host's default IPv4 address, and that each of its DNS names (wildcards included) and IP
    addresses is a valid one.
  - A run that changes nothing is one call of this module on the host.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host), which the
    P(dockyard.registry.registry_addresses#lookup) lookup reads.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - C(cryptography) on the registry host and on the controller.
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTION
attributes:
  check_mode:
    support: full
    details:
      - Predicts a new key and a new certificate without making them.
  diff_mode:
    support: full
    details:
      - The private key's content is never shown.
  idempotent:
    support: full
options:
  path:
    description: The host's directory of C(server.key), C(server.crt) and C(ca.crt).
    type: path
    required: true
  names:
    description: The names the host is known by in the inventory (inventory name, C(ansible_host)), first in the certificate.
    type: list
    elements: str
    default: []
  extra_names:
    description: Further DNS names and IP addresses clients use (C(registry_names)), last in the certificate.
    type: list
    elements: str
    default: []
  key_type:
    description: The key's algorithm.
    type: str
    choices: [ECC, RSA]
    default: ECC
  key_curve:
    description: The curve of an ECC key.
    type: str
    choices: [secp256r1, secp384r1, secp521r1]
    default: secp256r1
  key_size:
    description: The size in bits of an RSA key.
    type: int
    default: 4096
  key_owner:
    description:
      - Numeric user (and group) ID that owns C(server.key), the user the registry runs as. The key is 0400, readable
        by it alone.
    type: int
    default: 0
  key_group:
    description: Numeric group ID of C(server.key); by default the number of O(key_owner).
    type: int
  client_auth:
    description:
      - Issue the certificate with the C(clientAuth) extended key usage beside C(serverAuth), for a host whose servers
        present their certificate to each other (the SeaweedFS store's mutual TLS). A certificate without it is issued
        again.
    type: bool
    default: false
  ca_dir:
    description:
      - The controller directory of the CA (C(ca.crt), C(ca.key), and C(ca-next.*) during a rollover), and of
        the copies of the registry hosts' certificates (C(servers/<host>.crt)). Read by the action plugin.
    type: path
  ca_passphrase:
    description: The passphrase of the CA's private keys on the controller.
    type: str
  keep_copy:
    description:
      - Keep a copy of the certificate beside the CA, C(<ca_dir>/servers/<inventory_hostname>.crt), which the
        P(dockyard.registry.registry_addresses#lookup) lookup reads. Read by the action plugin.
      - V(false) for a second certificate of a host with the same names (the registry_server role's pull-through
        mirror), which must not take the place of the registry's.
    type: bool
    default: true
  rollover:
    description: The step of a CA rollover this run makes (V(switch) issues from the next CA); empty otherwise.
    type: str
    choices: ["", stage, switch, finish]
    default: ""
  validity:
    description: How long a new certificate lasts, V(+<number>d) (or w, h, m, s).
    type: str
    default: +365d
  renew_before:
    description: Issue the certificate again when it expires within this many days.
    type: int
    default: 30
  byo_certificate:
    description: Controller path of a certificate brought along (PEM); with O(byo_key) and O(byo_ca).
    type: path
  byo_key:
    description: Controller path of its private key (PEM, unencrypted).
    type: path
  byo_ca:
    description: Controller path of the CA bundle that signed it.
    type: path
  ca_bundle:
    description: Set by the action plugin (the CA certificates for C(ca.crt)); not for playbooks.
    type: str
    default: ""
  ca_ski:
    description: Set by the action plugin (the key identifier of the current CA); not for playbooks.
    type: str
    default: ""
  next_ski:
    description: Set by the action plugin (the key identifier of the next CA of a rollover); not for playbooks.
    type: str
    default: ""
  certificate:
    description: Set by the action plugin (the certificate the CA signed, or the one brought along); not for playbooks.
    type: str
  private_key:
    description: Set by the action plugin (the key of a certificate brought along); not for playbooks.
    type: str
seealso:
  - module: community.crypto.x509_certificate
  - plugin: dockyard.registry.registry_addresses
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Issue the registry host's certificate from the controller's CA
  dockyard.registry.registry_certificate:
    path: /etc/dockyard/registry/tls
    names: ["{{ inventory_hostname }}"]
    extra_names: [registry.example.com]
    ca_dir: "{{ inventory_dir }}/pki"
"""

RETURN = r"""
names:
  description: The subjectAltName entries the certificate carries.
  returned: always
  type: list
  elements: str
  sample: ["DNS:registry1", "DNS:registry1.example.com", "IP:10.20.0.10", "DNS:registry.example.com"]
reasons:
  description: Why the certificate was (or, in check mode, would be) issued again; empty when it was fine.
  returned: always
  type: list
  elements: str
  sample: ["it expires on 2027-01-02, within the 30 days of registry_pki_renew_before"]
signing_ca:
  description: The controller CA that issues the host's certificate, V(ca) or V(ca-next).
  returned: unless a certificate was brought along
  type: str
not_after:
  description: When the installed certificate expires, UTC, ISO 8601.
  returned: when a certificate is installed
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    certificate_sans,
    missing_names,
    san_problem,
)
from ansible_collections.dockyard.registry.plugins.module_utils._pki import CRYPTOGRAPHY_IMPORT_ERROR

KEY = "server.key"
CERTIFICATE = "server.crt"
CA = "ca.crt"


class CertificateError(Exception):
    """The certificate cannot be put in place; the message names the input and the fix."""


def run(module: AnsibleModule) -> dict:
    params = module.params
    files = Files(module)
    host = identity()
    # The names the controller computes too, before its CA signs: names no certificate can hold (an inventory name
    # with an underscore, say) are left out, as the registry_addresses lookup leaves them out.
    sans = certificate_sans(params["names"], host, params["extra_names"])
    result = {"changed": False, "names": sans, "reasons": [], "ansible_facts": {"dockyard_host": host}}
    paths = {name: os.path.join(params["path"], name) for name in (KEY, CERTIFICATE, CA)}
    if params["private_key"]:
        _install_brought(module, files, params, paths, host, result)
    else:
        files.directory(params["path"], 0o755)
        _issue(module, files, params, paths, sans, result)
    result["changed"] = files.changed
    if files.diffs:
        result["diff"] = files.diffs
    return result


def _issue(module, files, params, paths, sans, result) -> None:
    """The key made here; the certificate judged, and installed when the controller sent one."""
    current_key = files.read(paths[KEY])
    key = pki.load_key(current_key) if current_key else None
    if key is None or not pki.key_fits(key, params["key_type"], params["key_curve"], params["key_size"]):
        key = pki.new_key(params["key_type"], params["key_curve"], params["key_size"])
        result["reasons"].append("a new key was made" if current_key is None else
                                 f"the key is not {params['key_type']} as registry_pki_key_type asks")
    owner = str(params["key_owner"])
    group = str(params["key_owner"] if params["key_group"] is None else params["key_group"])
    files.file(paths[KEY], pki.key_pem(key), 0o400, owner=owner, group=group, secret=True)
    if params["certificate"]:
        files.file(paths[CERTIFICATE], params["certificate"].encode(), 0o444)
    current = files.read(paths[CERTIFICATE])
    certificate = pki.load_certificate(current) if current else None
    signing = pki.signing_ca(params["rollover"], pki.authority_key_id(certificate) if certificate else None,
                             params["next_ski"] or None)
    result["signing_ca"] = signing
    issuer = params["next_ski"] if signing == "ca-next" else params["ca_ski"]
    reasons = pki.reissue_reasons(certificate, key, sans, issuer, params["renew_before"],
                                  client_auth=params["client_auth"])
    if params["certificate"] and reasons:
        raise CertificateError(f"the certificate sent to {paths[CERTIFICATE]} is not the one due: {'; '.join(reasons)}")
    result["reasons"] += reasons
    if reasons:
        # The controller signs this request, then calls the module again with the certificate.
        result["csr"] = pki.csr_pem(pki.certificate_request(key, sans)).decode()
        files.pending(paths[CERTIFICATE], "; ".join(reasons))
    if params["ca_bundle"]:
        files.file(paths[CA], params["ca_bundle"].encode(), 0o444)
    if certificate is not None and not reasons:
        result["not_after"] = f"{pki.not_after(certificate):%Y-%m-%dT%H:%M:%SZ}"
        result["certificate"] = current.decode()


def _install_brought(module, files, params, paths, host, result) -> None:
    """A certificate brought along: checked, then installed with its key and CA as they are."""
    certificate = pki.load_certificate(params["certificate"].encode())
    key = pki.load_key(params["private_key"].encode())
    if pki.public_der(certificate) != pki.public_der(key):
        raise CertificateError("registry_pki_byo_key is not the key of registry_pki_byo_certificate")
    if pki.not_after(certificate) <= pki.now():
        raise CertificateError(f"registry_pki_byo_certificate expired on {pki.not_after(certificate):%Y-%m-%d}")
    have = pki.san_entries_of(certificate)
    problems = [problem for problem in map(san_problem, have) if problem]
    if problems:
        raise CertificateError(f"registry_pki_byo_certificate cannot be used: {'; '.join(problems)}. Issue it again "
                               "with DNS names and IP addresses alone.")
    missing = missing_names(have, list(params["extra_names"]) + [host["default_ipv4"] or ""])
    if missing:
        raise CertificateError(
            f"registry_pki_byo_certificate does not cover {', '.join(missing)}: its subjectAltNames are "
            f"{', '.join(name.split(':', 1)[1] for name in have) or 'none'}. Issue it again with those names, or drop "
            "them from registry_names.")
    result["names"] = have
    files.directory(params["path"], 0o755)
    owner = str(params["key_owner"])
    group = str(params["key_owner"] if params["key_group"] is None else params["key_group"])
    files.file(paths[KEY], params["private_key"].encode(), 0o400, owner=owner, group=group, secret=True)
    files.file(paths[CERTIFICATE], params["certificate"].encode(), 0o444)
    files.file(paths[CA], params["ca_bundle"].encode(), 0o444)
    result["not_after"] = f"{pki.not_after(certificate):%Y-%m-%dT%H:%M:%SZ}"
    result["certificate"] = params["certificate"]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "names": {"type": "list", "elements": "str", "default": []},
            "extra_names": {"type": "list", "elements": "str", "default": []},
            "key_type": {"type": "str", "default": "ECC", "choices": ["ECC", "RSA"]},
            "key_curve": {"type": "str", "default": "secp256r1", "choices": list(pki.CURVES)},
            "key_size": {"type": "int", "default": 4096},
            "key_owner": {"type": "int", "default": 0, "no_log": False},
            "key_group": {"type": "int", "no_log": False},
            "client_auth": {"type": "bool", "default": False},
            "rollover": {"type": "str", "default": "", "choices": ["", "stage", "switch", "finish"]},
            "renew_before": {"type": "int", "default": 30},
            # Read by the action plugin only.
            "ca_dir": {"type": "path"},
            "ca_passphrase": {"type": "str", "no_log": True},
            "validity": {"type": "str", "default": "+365d"},
            "byo_certificate": {"type": "path"},
            "byo_key": {"type": "path"},
            "byo_ca": {"type": "path"},
            "keep_copy": {"type": "bool", "default": True},
            # Set by the action plugin.
            "ca_bundle": {"type": "str", "default": ""},
            "ca_ski": {"type": "str", "default": ""},
            "next_ski": {"type": "str", "default": ""},
            "certificate": {"type": "str"},
            "private_key": {"type": "str", "no_log": True},
        },
        supports_check_mode=True,
    )
    if CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        result = run(module)
    except (CertificateError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
