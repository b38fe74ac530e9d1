# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: one host trusts the registry, in one pass (the registry_trust module).

For every container runtime of the host (``_runtimes``: Docker, containerd, the Podman family) and every address
of the registry: the CA where the runtime reads it (Docker's ``certs.d``, with a ``hosts.toml`` where the engine
uses the containerd store; containerd's hosts directory; ``/etc/containers/certs.d``), or the insecure fallback
(``insecure-registries`` merged into daemon.json and reloaded; ``skip_verify`` hosts.toml; a registries.conf
drop-in); the login, stored where the Docker client and Podman read it, only once the registry has accepted it;
and the probe, which tells whether the host can now use the registry and, if not, why, with which file each
runtime reads and whether it verifies. Everything is read first and only what differs is written, so a run that
changes nothing is one process that reads a few files and asks the registry ``GET /v2/`` once per address.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os

from ansible_collections.dockyard.registry.plugins.module_utils import _names
from ansible_collections.dockyard.registry.plugins.module_utils._daemon_config import DaemonConfig
from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DaemonError,
    api_client,
    insecure_registry,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import DaemonProcess
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import (
    Credentials,
    registry_credentials,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.daemon_trust import Trust
from ansible_collections.dockyard.registry.plugins.module_utils._registry.probe import RegistryProbe
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes import containerd, detect, docker, podman
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    ClientCertificate,
    Filesystem,
    Plan,
    RuntimeConfigError,
    Writer,
    apply,
    client_operations,
)
from ansible_collections.dockyard.registry.plugins.module_utils._verdicts import (
    AUTH_REFUSED,
    AUTH_REQUIRED,
    CERTIFICATE_VERDICTS,
    OK,
    UNRESOLVED,
)
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import daemon_go

CA_FILE = "ca.crt"
CA_NEXT_FILE = "ca-next.crt"


# What a host whose runtime cannot refuse an unsigned image is told, in the module's result and the fleet report.
NOT_ENFORCEABLE = ("not enforceable: {runtime} pulls unsigned images whatever the registry holds; check signatures "
                   "before deployment (registry_image verify=signature) or with an admission policy in Kubernetes")
RUNTIME_NAMES = {"docker": "Docker", "containerd": "containerd"}


class TrustError(Exception):
    """The host cannot be made to trust the registry; the message says why and what to do."""


class HostTrust:
    """One run of the registry_trust module on one host."""

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.files = Files(module)
        self.check_mode = module.check_mode
        self.fs = None
        self.mirror_client = None
        self.writer = None
        self.runtimes = {}
        self.result = {"changed": False, "addresses": self.params["addresses"], "mode": self.params["mode"],
                       "state": self.params["state"]}
        login = self.params.get("login") or None
        self.credentials = Credentials(login["username"], login["password"], "registry_trust's login") \
            if login else None

    def run(self) -> dict:
        present = self.params["state"] == "present"
        self._check_public_keys()
        self.fs = Filesystem()
        self.mirror_client = self._mirror_client(present)
        self.writer = Writer(self.files, self.fs)
        try:
            self.runtimes = detect.select(self.params["runtimes"], detect.gather(self.fs))
        except ValueError as exc:
            raise TrustError(str(exc)) from None
        if not self.runtimes:
            raise TrustError("this host has no container runtime the collection knows (Docker, containerd, or Podman, "
                             "Buildah, Skopeo, CRI-O): install one, or name the runtimes in registry_trust_runtimes")
        self.result["runtimes"] = {name: {"found": reason} for name, reason in self.runtimes.items()}
        try:
            if detect.DOCKER in self.runtimes:
                self._docker(present)
                if self.params["mirrors"]:  # Docker's registry-mirrors
                    self._registry_mirrors(present)
            if detect.CONTAINERD in self.runtimes:
                self._containerd(present)
            if detect.PODMAN in self.runtimes:
                self._apply(detect.PODMAN, self._podman_plan())
            self._signature_policy(present)
            if present and self.params["probe"]:
                self._probe()
            if self.credentials is not None:
                self._logins(present)
        except RuntimeConfigError as exc:
            raise TrustError(str(exc)) from None
        self.result["changed"] = self.result["changed"] or self.files.changed
        self.result["files"] = self.files.changed_paths
        self.result["in_force"] = self._in_force() if present else []
        if self.files.diffs:
            self.result["diff"] = self.files.diffs
        if present and self.params["probe"]:
            self._judge_probes()
        return self.result

    # Docker

    def _docker(self, present: bool) -> None:
        """certs.d (or insecure-registries), and the hosts.toml an engine on the containerd store reads first."""
        reads_hosts_toml, why = self._docker_reads_hosts_toml()
        self.result["runtimes"][detect.DOCKER]["hosts_toml"] = {"read": reads_hosts_toml, "why": why}
        ca_files = [CA_FILE] + ([CA_NEXT_FILE] if self.params["ca_next"] else [])
        hosts_toml = docker.plan(self.params["addresses"], self.params["mode"], self.params["state"],
                                 tls=self.params["tls"], ca_files=ca_files, fs=self.fs,
                                 certs_dir=self.params["certs_dir"], reads_hosts_toml=reads_hosts_toml)
        if not present:  # hosts.toml goes before the CA files it names, and before their directory
            self._apply(detect.DOCKER, hosts_toml)
        if self.params["mode"] == "ca":
            self._ca_files(present)
        else:
            self._insecure_registries(present)
        if present:
            self._apply(detect.DOCKER, hosts_toml)

    def _docker_reads_hosts_toml(self) -> tuple[bool, str]:
        """Whether the engine reads hosts.toml (29 or later, or the containerd image store), asked of the daemon."""
        try:
            with api_client(timeout=self.params["timeout"]) as client:
                return detect.docker_reads_hosts_toml(client.info())
        except DaemonError as exc:
            return False, f"not known: {exc}"

    # containerd and the Podman family, planned by _runtimes

    def _containerd(self, present: bool) -> None:
        rc, out, _err = self.module.run_command(["containerd", "--version"]) if self.module.get_bin_path(
            "containerd") else (1, "", "")
        version = detect.containerd_version(out) if rc == 0 else ()
        plan = containerd.plan(self.params["addresses"], self.params["ca"] if self.params["mode"] == "ca" else None,
                               self.params["mode"], self.params["state"], tls=self.params["tls"], fs=self.fs,
                               containerd_version=version, mirrors=self._mirror_addresses(),
                               mirror_client=self.mirror_client)
        self._apply(detect.CONTAINERD, plan, restarter=None if self.module.check_mode else
                    lambda: containerd.restart(self.module.run_command, fs=self.fs, timeout=self.params["timeout"]))

    def _podman_plan(self, credentials=None, logins=None):
        """The Podman family's plan; ``logins``: the addresses that get the login (all of them where None)."""
        return podman.plan(self.params["addresses"], self.params["ca"] if self.params["mode"] == "ca" else None,
                           self.params["mode"], self.params["state"], tls=self.params["tls"], credentials=credentials,
                           fs=self.fs, mirrors=self._mirror_addresses(), login_addresses=logins,
                           mirror_client=self.mirror_client)

    def _check_public_keys(self) -> None:
        """Before anything changes: an enforced policy has keys, each a PEM public key (cosign.pub)."""
        keys = self.params["public_keys"] or []
        if self.params["signature_policy"] == "enforce" and not keys:
            raise TrustError("signature_policy=enforce needs public_keys (registry_signature_public_keys: the cosign "
                             "public keys whose signatures the hosts accept)")
        bad = [str(number) for number, key in enumerate(keys, start=1)
               if not key.strip().startswith("-----BEGIN PUBLIC KEY-----") or "-----END PUBLIC KEY-----" not in key]
        if bad:
            raise TrustError(f"public_keys item(s) {', '.join(bad)} are no PEM public key (a cosign.pub file's text, "
                             "-----BEGIN PUBLIC KEY-----); nothing was changed")

    def _signature_policy(self, present: bool) -> None:
        """Podman's family refuses images without a valid signature once its policy says so; Docker and containerd
        have no such policy, which each runtime's ``signatures`` says."""
        enforce = self.params["signature_policy"] == "enforce" and present
        for runtime, part in self.result["runtimes"].items():
            if runtime == detect.PODMAN:
                part["signatures"] = "enforced" if enforce else "not enforced (registry_signature_policy: off)"
            elif enforce:
                part["signatures"] = NOT_ENFORCEABLE.format(runtime=RUNTIME_NAMES.get(runtime, runtime))
        if detect.PODMAN in self.runtimes:
            self._apply(detect.PODMAN, podman.signature_plan(self.params["addresses"], self.params["signature_policy"],
                                                             self.params["public_keys"] or [],
                                                             state=self.params["state"], fs=self.fs))

    def _mirror_client(self, present: bool) -> ClientCertificate | None:
        """The host's client certificate for the mirrors (mirror_client_certificate and _key), read from its files.

        None without those options or mirrors. With state=absent only its presence matters (the files go), and in
        check mode a certificate still to be issued in this run stands in as empty files.
        """
        certificate, key = self.params.get("mirror_client_certificate"), self.params.get("mirror_client_key")
        if not (certificate and key and self.params["mirrors"]):
            return None
        if not present:
            return ClientCertificate(b"", b"")
        contents = [self.fs.read(path) for path in (certificate, key)]
        missing = [f"{option} {path}" for option, path, content in
                   (("mirror_client_certificate", certificate, contents[0]), ("mirror_client_key", key, contents[1]))
                   if content is None]
        if missing and not self.check_mode:
            raise TrustError(f"{' and '.join(missing)}: no such file on this host. The host's client certificate for "
                             "the mirrors is issued first (the registry_trust role does it with "
                             "dockyard.registry.registry_certificate); nothing was changed")
        return ClientCertificate(contents[0] or b"", contents[1] or b"")

    def _mirror_addresses(self) -> list[str]:
        """The host:port of every mirror of Docker Hub: containerd and the Podman family name them so."""
        return [mirror_address(url) for url in self.params["mirrors"]]

    def _apply(self, runtime: str, plan, restarter=None) -> None:
        """Perform a runtime's plan through this run's Files (check mode, diffs, atomic writes)."""
        for warning in plan.warnings:
            self.module.warn(warning)
        outcome = apply(plan, self.writer, restarter)
        if self.writer.backups:
            self.result["backups"] = list(self.writer.backups)
        part = self.result["runtimes"][runtime]
        part.setdefault("files", []).extend(outcome["paths"])
        if plan.found:
            part.update(plan.found)
        if outcome["restarted"]:
            part["restarted"] = outcome["restarted"]
        elif outcome["restart_needed"] and self.module.check_mode:
            part["restarted"] = "would restart"

    # Docker's CA mode: certs.d
    def _in_force(self) -> list[str]:
        """The files through which the host trusts the registry once this run is done, all runtimes together; each
        runtime's own in ``runtimes.<name>.in_force`` (from the probe's report of what it reads)."""
        files = []
        for runtime, part in self.result["runtimes"].items():
            if "trust" not in part:  # probe=false: the same report, without the connection
                part["trust"] = [self._trust_report(runtime, address) for address in self.params["addresses"]]
            own = sorted({path for report in part.get("trust", []) for path in report.get("reads") or []})
            if runtime == detect.DOCKER and self.params["mode"] == "insecure":
                own.append(self.params["daemon_json"])
            part["in_force"] = own
            files += [path for path in own if path not in files]
        return files

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
        wrong = [address for address in self.params["addresses"]
                 if insecure_registry(info, address, _names.address_host(address)) != present]
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
            # The client certificate beside the CA (client.cert, client.key): Docker presents it to a mirror that
            # asks for one. It goes before the CA's removal, which removes the emptied directory.
            clients = Plan("docker")
            for address in addresses:
                clients.operations += client_operations(self.fs, os.path.join(self.params["certs_dir"], address),
                                                        self.mirror_client, present)
            if not present:
                self._apply(detect.DOCKER, clients)
            self._ca_files(present, addresses)
            if present:
                self._apply(detect.DOCKER, clients)
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
        """Ask every address as the host's runtime would (with the CA just put in place) and with the login.

        One connection per address, with the CA directory of the first runtime of the host (Docker's certs.d,
        containerd's hosts directory, /etc/containers/certs.d); for every runtime, which files it reads for the
        address and whether it verifies the certificate (``runtimes.<name>.trust``).
        """
        insecure = self.params["mode"] == "insecure"
        daemon = daemon_go() if self.params["tls"] and detect.DOCKER in self.runtimes else None
        certs_d = self._probe_certs_dir()
        for runtime in self.runtimes:
            self.result["runtimes"][runtime]["trust"] = [
                self._trust_report(runtime, address) for address in self.params["addresses"]]

        def probe(address: str) -> dict:
            parsed = _names.parse_address(("http://" if not self.params["tls"] else "") + address)
            trust = Trust.for_registry(parsed.name, certs_d=certs_d) if self.params["tls"] else None
            # Without a login to make, the one the daemon would use: what docker login stored for the address.
            credentials = self.credentials or registry_credentials(parsed.name,
                                                                   config_path=self.params["docker_config"])
            outcome = RegistryProbe(parsed, trust, self.params["timeout"], credentials, insecure=insecure,
                                    credentials_unverified=self.params["insecure_send_credentials"],
                                    **({"daemon": daemon} if daemon else {})).run()
            found = {key: outcome.get(key) for key in ("registry", "status", "detail", "remedy", "problems")}
            if outcome.get("login_role"):
                found["login_role"] = outcome["login_role"]
            if insecure and outcome["status"] == AUTH_REQUIRED and outcome.get("credentials_withheld"):
                # The daemon sends the login to an insecure registry; this module does not, unverified.
                found.update(status=OK, detail=f"{outcome['detail']}; the login was not checked: the certificate "
                                               "does not verify and insecure_send_credentials is off", remedy="")
            return found

        # The addresses at once: each probe mostly waits for the registry (its login costs the server a bcrypt hash).
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.params["addresses"]) or 1) as pool:
            self.result["probe"] = list(pool.map(probe, self.params["addresses"]))

    def _probe_certs_dir(self) -> str:
        if detect.DOCKER in self.runtimes:
            return self.params["certs_dir"]
        if detect.CONTAINERD in self.runtimes:
            report = containerd.trust_report(self.params["addresses"][0], self.fs)
            return os.path.dirname(report["hosts_dir"])
        return podman.CERTS_DIR

    def _trust_report(self, runtime: str, address: str) -> dict:
        if runtime == detect.DOCKER:
            reads = self.result["runtimes"][detect.DOCKER]["hosts_toml"]["read"]
            report = docker.trust_report(address, self.fs, reads_hosts_toml=reads, certs_dir=self.params["certs_dir"])
            if self.params["mode"] == "insecure":
                report["verifies"] = False  # insecure-registries turns verification off on top of the files
        elif runtime == detect.CONTAINERD:
            report = containerd.trust_report(address, self.fs)
        else:
            report = podman.trust_report(address, self.fs)
        report.pop("runtime", None)
        return {"address": address, **report}

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
        """The login of every address the registry accepted it at, for Docker and the Podman family.

        containerd keeps no credentials the collection could write (see the guide Trust in every container runtime):
        Kubernetes pull secrets.
        """
        accepted = self._accepted_addresses() if present else []
        if detect.PODMAN in self.runtimes:
            login = {"username": self.credentials.username, "password": self.credentials.password}
            self._apply(detect.PODMAN, self._podman_plan(credentials=login, logins=accepted if present else None))
        if detect.DOCKER in self.runtimes:
            self._docker_logins(present, accepted)

    def _docker_logins(self, present: bool, accepted: list[str]) -> None:
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
                             "the account is not in registry_users as the registry has it; run the dockyard.registry.server playbook "
                             "(or site.yml) first, or correct the password")
        usable = (OK,) + (CERTIFICATE_VERDICTS if self.params["mode"] == "insecure" else ())
        return [probe["registry"] for probe in probes if probe["status"] in usable
                or (self.module.check_mode and probe["status"] != UNRESOLVED)]


def mirror_address(url: str) -> str:
    """The host[:port] of a mirror's https URL, as the daemon names its directory in certs.d (``_names``)."""
    try:
        return _names.mirror_address(url)
    except ValueError as exc:
        raise TrustError(f"mirrors: {url!r} is not the https URL of a registry (https://<host>[:<port>], no path): "
                         f"{exc}. Docker talks to a mirror over TLS it verifies. Nothing was changed.") from None


def _pem(text: str) -> bytes:
    return (text.strip() + "\n").encode()
