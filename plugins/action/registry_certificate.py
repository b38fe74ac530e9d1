# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's part of dockyard.registry.registry_certificate: the CA signs, and its key stays here.

The module runs on the registry host once: it makes or keeps the key, judges the certificate there and, where
one is due, returns a certificate request. Only then does this plugin sign the request with the controller's CA
and run the module a second time to install the certificate. It keeps a copy of every host's certificate beside
the CA (``servers/<host>.crt``), which the registry_addresses lookup and the trust role read.

The CA signs only what it means to: a request whose signature verifies, and whose subjectAltNames are exactly
those the controller computes for the host from the task's names (``names``, the host's FQDN and default IPv4
address, ``extra_names``). The certificate carries those computed names, never the request's own subject.

A certificate brought along (``byo_certificate``) is verified here against ``byo_ca`` before the host is asked, as
strictly as its clients verify it: Python 3.13 (Debian 13's, which the collection's modules use on the hosts) refuses a
CA without key usage or a leaf without an authority key identifier, which Docker takes.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.common.validation import check_type_list
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.registry.plugins.module_utils._files import read, stage
from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    certificate_copy,
    certificate_sans,
    san_entries,
)

MODULE = "dockyard.registry.registry_certificate"
# Options this plugin reads; the module gets the others.
CONTROLLER_OPTIONS = ("ca_dir", "ca_passphrase", "validity", "byo_certificate", "byo_key", "byo_ca", "keep_copy")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        controller = {name: args.pop(name, None) for name in CONTROLLER_OPTIONS}
        host = task_vars["inventory_hostname"]
        # Before anything changes: the host's name becomes a file name on the controller, the extra names go
        # into the certificate.
        try:
            copy = certificate_copy(controller["ca_dir"] or "", host)
        except ValueError as exc:
            raise AnsibleActionFail(f"{MODULE}: {exc}") from exc
        try:
            san_entries(_names(args, "extra_names"))
        except (TypeError, ValueError) as exc:
            raise AnsibleActionFail(f"{MODULE}: extra_names (registry_names and the names of the load balancers of "
                                    f"the group registry_lb) of {host}: {exc}") from exc
        try:
            if controller["byo_certificate"]:
                module_args = {**args, **self._brought_along(controller)}
                outcome = self._module(module_args, task_vars)
                outcome.pop("signing_ca", None)
            else:
                outcome = self._issue(args, controller, task_vars)
            keep_copy = controller["keep_copy"] is None or boolean(controller["keep_copy"], strict=True)
            if not outcome.get("failed") and outcome.get("certificate") and keep_copy:
                copied = self._keep_copy(copy, outcome["certificate"].encode())
                if controller["byo_certificate"]:
                    # The operator's CA is what every Docker host trusts: the trust role reads it beside the others.
                    copied = self._keep_copy(os.path.join(controller["ca_dir"], "ca.crt"),
                                             module_args["ca_bundle"].encode()) or copied
                outcome["changed"] = outcome.get("changed", False) or copied
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail(f"{MODULE}: {exc}") from exc
        outcome.pop("certificate", None)
        outcome.pop("csr", None)
        result.update(outcome)
        return result

    def _module(self, module_args: dict, task_vars: dict) -> dict:
        return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)

    def _issue(self, args: dict, controller: dict, task_vars: dict) -> dict:
        """Judge on the host; sign on the controller where a certificate is due; install it on the host."""
        # Imported here: the strategy loads this plugin for every task that names it, skipped or not, and a play whose
        # hosts issue nothing (the mirror's client certificates turned off) need not import cryptography for it.
        from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki  # pylint: disable=import-outside-toplevel

        ca_dir = controller["ca_dir"]
        current, upcoming = read(os.path.join(ca_dir, "ca.crt")), read(os.path.join(ca_dir, "ca-next.crt"))
        if current is None:
            raise AnsibleActionFail(f"{MODULE}: {ca_dir}/ca.crt is missing: the registry_pki role makes the CA there "
                                    "before it issues certificates (registry_pki_dir)")
        ca_cert = pki.load_certificate(current)
        next_cert = pki.load_certificate(upcoming) if upcoming else None
        lifetime = pki.validity(controller["validity"] or "+365d")
        module_args = {**args, "ca_bundle": _bundle(current, upcoming), "ca_ski": pki.subject_key_id(ca_cert),
                       "next_ski": pki.subject_key_id(next_cert) if next_cert else ""}
        judged = self._module(module_args, task_vars)
        if judged.get("failed") or "csr" not in judged:
            return judged
        csr = pki.load_csr(judged["csr"].encode())
        computed = certificate_sans(_names(args, "names"), (judged.get("ansible_facts") or {}).get("dockyard_host"),
                                    _names(args, "extra_names"))
        refusal = pki.request_refusal(csr, computed)
        if refusal:
            return {"failed": True, "changed": False, "reasons": judged["reasons"], "names": computed,
                    "msg": f"{MODULE}: the CA does not sign the certificate request of {task_vars['inventory_hostname']}: "
                           f"{refusal}. No certificate was issued."}
        if self._task.check_mode:
            return judged
        name = judged["signing_ca"]
        signer = ca_cert if name == "ca" else next_cert
        key = pki.load_key(read(os.path.join(ca_dir, f"{name}.key")),
                           controller["ca_passphrase"].encode() if controller["ca_passphrase"] else None)
        signed = pki.sign(csr, signer, key, lifetime, computed,
                          client_auth=boolean(args.get("client_auth") or False, strict=True))
        installed = self._module({**module_args, "certificate": pki.certificate_pem(signed).decode()}, task_vars)
        if installed.get("failed"):
            return installed
        installed["changed"] = True
        installed["reasons"] = judged["reasons"]
        installed["diff"] = judged.get("diff", []) + [
            entry for entry in installed.get("diff", []) if entry.get("before_header") not in
            {done.get("before_header") for done in judged.get("diff", [])}]
        return installed

    @staticmethod
    def _brought_along(controller: dict) -> dict:
        """The operator's certificate, key and CA, read on the controller for the module to check and install."""
        contents = {}
        for option, name in (("byo_certificate", "certificate"), ("byo_key", "private_key"), ("byo_ca", "ca_bundle")):
            data = read(controller[option] or "")
            if data is None:
                raise AnsibleActionFail(f"{MODULE}: {option} {controller[option]} is not a file on the controller")
            contents[name] = data.decode()
        problem = chain_problem(contents["certificate"].encode(), contents["ca_bundle"].encode())
        if problem:
            raise AnsibleActionFail(
                f"{MODULE}: registry_pki_byo_certificate ({controller['byo_certificate']}) does not verify against "
                f"registry_pki_byo_ca ({controller['byo_ca']}) as the hosts' Python 3.13 and Docker verify it: "
                f"{problem}. Issue it again from a CA of registry_pki_byo_ca with these extensions, or give the CA "
                "that issued it. Nothing was changed on the host.")
        return contents

    def _keep_copy(self, path: str, content: bytes) -> bool:
        """A public certificate kept on the controller (0644, in 0700 directories); True where it changed."""
        if read(path) == content:
            return False
        if not self._task.check_mode:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.replace(stage(path, content, 0o644), path)
        return True


# The extensions cryptography's verifier names by their OIDs.
_EXTENSIONS = {"2.5.29.14": "subjectKeyIdentifier", "2.5.29.15": "keyUsage", "2.5.29.17": "subjectAltName",
               "2.5.29.19": "basicConstraints", "2.5.29.35": "authorityKeyIdentifier", "2.5.29.37": "extendedKeyUsage"}


def chain_problem(certificate_pem: bytes, ca_pem: bytes) -> str:
    """Why the first certificate of ``certificate_pem`` (the others its intermediates) does not verify against the
    CAs of ``ca_pem`` under cryptography's RFC 5280 profile for servers, or '' where it does (or where cryptography
    is older than 42, which has no verifier)."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    try:
        from cryptography.x509 import verification  # pylint: disable=import-outside-toplevel
    except ImportError:
        return ""
    try:
        chain = x509.load_pem_x509_certificates(certificate_pem)
        authorities = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        return f"it cannot be read as PEM certificates ({to_native(exc)})"
    leaf = chain[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "it has no subjectAltName extension"
    subject = ([verification.DNSName(name) for name in names.get_values_for_type(x509.DNSName)]
               + [verification.IPAddress(address) for address in names.get_values_for_type(x509.IPAddress)])
    if not subject:
        return "its subjectAltName names neither a DNS name nor an IP address"
    verifier = (verification.PolicyBuilder().store(verification.Store(authorities))
                .build_server_verifier(subject[0]))
    try:
        verifier.verify(leaf, chain[1:])
    except verification.VerificationError as exc:
        reason = to_native(exc).removeprefix("validation failed: ").split(" (encountered processing")[0]
        if "all candidates exhausted with no interior errors" in reason:
            return "no CA of registry_pki_byo_ca issued it (nor an intermediate that came with it)"
        if reason.endswith("signature does not match"):
            return "no CA of registry_pki_byo_ca issued it: a CA there of the issuer's name did not sign it"
        for oid, name in _EXTENSIONS.items():
            reason = reason.replace(oid, name)
        # The verifier tried the CAs that could have issued it: what it says is of them.
        if reason.startswith("candidates exhausted: "):
            return f"the CA that issued it: {reason.removeprefix('candidates exhausted: ')}"
        return f"the certificate: {reason}"
    return ""


def _names(args: dict, option: str) -> list[str]:
    """A list option of names as the module takes it (a comma-separated string becomes a list)."""
    return [str(name) for name in check_type_list(args.get(option) or [])]


def _bundle(*pems: bytes | None) -> str:
    return "".join(pem.decode() if pem.endswith(b"\n") else pem.decode() + "\n" for pem in pems if pem)
