# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: one host trusts the registry, in one pass (the registry_trust module).

For every address of the registry: the CA where the Docker daemon reads it (``certs.d``), or the address in
``insecure-registries`` (merged into daemon.json, reloaded); the login, stored where the Docker client and SDK
read it, only once the registry has accepted it; and the probe, which tells whether the daemon can now use the
registry and, if not, why. Everything is read first and only what differs is written, so a run that changes
nothing is one process that reads a few files and asks the registry ``GET /v2/`` once per address.
"""

from __future__ import annotations

import base64
import json
import os
import re

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_config import DaemonConfig
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import (
    DaemonProcess,
    api_client,
    daemon_go,
    insecure_registry,
)
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._probe import (
    AUTH_REFUSED,
    AUTH_REQUIRED,
    CERTIFICATE_VERDICTS,
    OK,
    UNRESOLVED,
    parse_address,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import (
    Credentials,
    registry_credentials,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.probe import RegistryProbe
from ansible_collections.dockyard.registry.plugins.module_utils._registry.trust import Trust

# A mirror's URL: https, a host (a name, an IPv4 address or a bracketed IPv6 one), a port, nothing after.
MIRROR_URL = re.compile(r"^https://(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?P<port>:[0-9]{1,5})?/?$")
CA_FILE = "ca.crt"
CA_NEXT_FILE = "ca-next.crt"


class TrustError(Exception):
    """The host cannot be made to trust the registry; the message says why and what to do."""


class HostTrust:
    """One run of the registry_trust module on one host."""

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.files = Files(module)
        self.result = {"changed": False, "addresses": self.params["addresses"], "mode": self.params["mode"],
                       "state": self.params["state"]}
        login = self.params.get("login") or None
        self.credentials = Credentials(login["username"], login["password"], "registry_trust's login") \
            if login else None

    def run(self) -> dict:
        present = self.params["state"] == "present"
        if self.params["mode"] == "ca":
            self._ca_files(present)
        else:
            self._insecure_registries(present)
        if self.params["mirrors"]:
            self._registry_mirrors(present)
        if present and self.params["probe"]:
            self._probe()
        if self.credentials is not None:
            self._logins(present)
        self.result["changed"] = self.result["changed"] or self.files.changed
        self.result["files"] = self.files.changed_paths
        if self.files.diffs:
            self.result["diff"] = self.files.diffs
        if present and self.params["probe"]:
            self._judge_probes()
        return self.result

    # CA mode: certs.d

    def _ca_files(self, present: bool, addresses: list[str] | None = None) -> None:
        certs_dir = self.params["certs_dir"]
        for address in addresses or self.params["addresses"]:
            directory = os.path.join(certs_dir, address)
            if present:
                self.files.directory(directory, 0o755)
                self.files.file(os.path.join(directory, CA_FILE), _pem(self.params["ca"]), 0o444)
                next_ca = os.path.join(directory, CA_NEXT_FILE)
                if self.params["ca_next"]:
                    self.files.file(next_ca, _pem(self.params["ca_next"]), 0o444)
                else:
                    self.files.absent(next_ca)
            else:
                for name in (CA_FILE, CA_NEXT_FILE):
                    self.files.absent(os.path.join(directory, name))
                # Client certificates an operator put there stay, and so does their directory.
                self.files.empty_directory_absent(directory)

    # Insecure mode: daemon.json

    def _daemon_json(self, settings: dict) -> tuple[dict, dict | None]:
        """``settings`` merged into daemon.json and applied; the daemon's info after, None where nothing is to confirm."""
        outcome = DaemonConfig(self.module, self.params["daemon_json"], settings, self.params["state"],
                               self.params["daemon_apply"],
                               daemon=DaemonProcess(self.module.run_command, timeout=self.params["timeout"])).run()
        if outcome["changed"]:
            self.result["changed"] = True
            self.files.diffs.append(outcome["diff"])
        if self.params["daemon_apply"] == "none" or (self.module.check_mode and outcome["changed"]):
            return outcome, None
        with api_client(timeout=self.params["timeout"]) as client:
            return outcome, client.info()

    def _insecure_registries(self, present: bool) -> None:
        outcome, info = self._daemon_json({"insecure-registries": self.params["addresses"]})
        self.result["daemon_action"] = outcome["daemon_action"]
        if info is None:
            return
        wrong = [address for address in self.params["addresses"] if insecure_registry(info, address) != present]
        if wrong:
            listed = sorted(name for name, index in ((info.get("RegistryConfig") or {}).get("IndexConfigs") or {}).items()
                            if not index.get("Secure", True))
            raise TrustError(
                f"after {outcome['daemon_action']}, the daemon's insecure registries are {', '.join(listed) or 'none'}, "
                f"but {', '.join(wrong)} should {'' if present else 'not '}be among them. A directive in daemon.json "
                "that the daemon also gets as a flag makes it ignore a reload: see the daemon's log.")

    # Docker Hub's pull-through mirrors: registry-mirrors

    def _registry_mirrors(self, present: bool) -> None:
        """The mirrors in registry-mirrors (a reload), each trusted as the registry is: the CA, or insecure-registries."""
        mirrors = self.params["mirrors"]
        addresses = [mirror_address(url) for url in mirrors]
        settings = {"registry-mirrors": mirrors}
        if self.params["mode"] == "ca":
            self._ca_files(present, addresses)
        else:
            settings["insecure-registries"] = addresses
        outcome, info = self._daemon_json(settings)
        self.result["mirrors_action"] = outcome["daemon_action"]
        if info is None:
            return
        listed = (info.get("RegistryConfig") or {}).get("Mirrors") or []
        wrong = [url for url in mirrors if (url.rstrip("/") + "/" in listed) != present]
        if wrong:
            raise TrustError(f"after {outcome['daemon_action']}, the daemon's registry mirrors are "
                             f"{', '.join(listed) or 'none'}, but {', '.join(wrong)} should {'' if present else 'not '}"
                             "be among them. A directive in daemon.json that the daemon also gets as a flag makes it "
                             "ignore a reload: see the daemon's log.")

    # Probe

    def _probe(self) -> None:
        """Ask every address as the daemon would (with the CA just put in place) and with the login."""
        insecure = self.params["mode"] == "insecure"
        daemon = daemon_go() if self.params["tls"] else None
        probes = []
        for address in self.params["addresses"]:
            parsed = parse_address(("http://" if not self.params["tls"] else "") + address)
            trust = Trust.for_registry(parsed.name, certs_d=self.params["certs_dir"]) if self.params["tls"] else None
            # Without a login to make, the one the daemon would use: what docker login stored for the address.
            credentials = self.credentials or registry_credentials(parsed.name,
                                                                   config_path=self.params["docker_config"])
            outcome = RegistryProbe(parsed, trust, self.params["timeout"], credentials, insecure=insecure,
                                    credentials_unverified=self.params["insecure_send_credentials"],
                                    **({"daemon": daemon} if daemon else {})).run()
            probe = {key: outcome.get(key) for key in ("registry", "status", "detail", "remedy", "problems")}
            if insecure and outcome["status"] == AUTH_REQUIRED and outcome.get("credentials_withheld"):
                # The daemon sends the login to an insecure registry; this module does not, unverified.
                probe.update(status=OK, detail=f"{outcome['detail']}; the login was not checked: the certificate "
                                               "does not verify and insecure_send_credentials is off", remedy="")
            probes.append(probe)
        self.result["probe"] = probes

    def _judge_probes(self) -> None:
        """Fail unless every address this host resolves answers as the daemon needs, and it resolves one at least."""
        probes = self.result["probe"]
        unresolved = [probe["registry"] for probe in probes if probe["status"] == UNRESOLVED]
        failing = [probe for probe in probes if probe["status"] not in (OK, UNRESOLVED)]
        predicted = self.module.check_mode and self.result["changed"]
        if failing and not predicted:
            raise TrustError("; ".join(f"{probe['registry']}: {probe['status']}: {probe['detail']}. {probe['remedy']}"
                                       for probe in failing))
        if unresolved and len(unresolved) == len(probes):
            raise TrustError(f"this host resolves none of the registry's addresses ({', '.join(unresolved)}): fix its "
                             "DNS or /etc/hosts, or add a name it resolves to registry_names")
        # Names only the certificate carries (an inventory name, say) are often unknown to DNS: reported, not fatal.
        self.result["unresolved"] = unresolved

    # Logins

    def _logins(self, present: bool) -> None:
        """The Docker login of every address the registry accepted it at; removed again with state=absent."""
        path = self.params["docker_config"]
        current = self.files.read(path)
        try:
            config = json.loads(current) if current else {}
        except ValueError as exc:
            raise TrustError(f"{path} is not valid JSON ({exc}): fix or remove it, and run again") from None
        if not isinstance(config, dict):
            raise TrustError(f"{path} does not hold a JSON object: fix or remove it, and run again")
        helpers = config.get("credHelpers") or {}
        if config.get("credsStore") or any(address in helpers for address in self.params["addresses"]):
            raise TrustError(f"{path} names a credential helper (credsStore or credHelpers), where this module does "
                             "not write: log in with `docker login` by hand, or remove the helper for the registry")
        auths = config.setdefault("auths", {})
        wanted = base64.b64encode(f"{self.credentials.username}:{self.credentials.password}".encode()).decode()
        accepted = self._accepted_addresses() if present else []
        logins = {}
        for address in self.params["addresses"]:
            if present and address in accepted:
                logins[address] = "logged in"
                if (auths.get(address) or {}).get("auth") != wanted:
                    auths[address] = {"auth": wanted}
            elif present:
                logins[address] = "skipped: not resolved here"
            else:
                logins[address] = "logged out"
                auths.pop(address, None)
        self.result["logins"] = logins
        if not present and current is None:
            return
        self.files.directory(os.path.dirname(path), 0o700)
        # Compared as JSON: the Docker CLI writes the file in a layout of its own, which is no reason to rewrite it.
        if current is not None and json.loads(current) == config:
            self.files.attributes(path, 0o600)
        else:
            self.files.file(path, (json.dumps(config, indent="\t") + "\n").encode(), 0o600, secret=True)

    def _accepted_addresses(self) -> list[str]:
        """The addresses where the registry accepts the login; a refusal fails the task, naming the account."""
        probes = self.result.get("probe")
        if probes is None:  # probe=false: every address, as given
            return list(self.params["addresses"])
        refused = [probe["registry"] for probe in probes if probe["status"] == AUTH_REFUSED]
        if refused:
            raise TrustError(f"the registry refused the password of {self.credentials.username} at {', '.join(refused)}: "
                             "the account is not in registry_users as the registry has it; run playbooks/server.yml "
                             "(or site.yml) first, or correct the password")
        usable = (OK,) + (CERTIFICATE_VERDICTS if self.params["mode"] == "insecure" else ())
        return [probe["registry"] for probe in probes if probe["status"] in usable
                or (self.module.check_mode and probe["status"] != UNRESOLVED)]


def mirror_address(url: str) -> str:
    """The host[:port] of a mirror's https URL, as the daemon names its directory in certs.d."""
    match = MIRROR_URL.match(url)
    if not match:
        raise TrustError(f"mirrors: {url!r} is not the https URL of a registry (https://<host>[:<port>], no path): "
                         "Docker talks to a mirror over TLS it verifies. Nothing was changed.")
    return match["host"] + (match["port"] or "")


def _pem(text: str) -> bytes:
    return (text.strip() + "\n").encode()
