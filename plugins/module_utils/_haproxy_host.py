# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: HAProxy run on a host, the registry_lb module's work.

Its files (``haproxy.cfg``, checked with ``haproxy -c`` before it is used, the CA of the health checks, the PEM files
it presents), HAProxy kept running in master-worker mode and reloaded on a new configuration, awaited until every
frontend takes connections, and its servers' state read from the runtime API (:mod:`_haproxy`).
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._haproxy import servers
from ansible_collections.dockyard.registry.plugins.module_utils._names import address_host, split_host_port
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import ServiceHost, listening

DESCRIPTIONS = {"dockyard-haproxy": "HAProxy (dockyard.registry load balancer)"}


def check_config(module, config: bytes, config_dir: str) -> None:
    """``haproxy -c`` on the new configuration, from a file beside the real one (relative paths resolve alike)."""
    handle, staged = tempfile.mkstemp(prefix=".haproxy.cfg.", dir=config_dir)
    try:
        with os.fdopen(handle, "wb") as new:
            new.write(config)
        rc, out, err = module.run_command([module.params["binary"], "-c", "-f", staged])
    finally:
        os.unlink(staged)
    if rc != 0:
        module.fail_json(msg=f"HAProxy refuses the new configuration, which was left out: {(out + err).strip()}")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise OSError(f"cannot read {path} for HAProxy's certificate file: {exc.strerror}. Run the "
                      "dockyard.registry.registry_pki role first") from exc


def _with_newline(content: bytes) -> bytes:
    return content if not content or content.endswith(b"\n") else content + b"\n"


def certificate_file(module, files: Files, pem_path: str, sources: list[str]) -> bool:
    """``pem_path`` (0600) made from the files ``sources`` (a certificate, its chain, its key), or removed where there
    are none; True where it changed (or, in check mode, would)."""
    missing = [path for path in sources if not os.path.isfile(path)]
    if missing and module.check_mode:
        # A check run before the certificate's first issue: it would be made from the files issued then.
        files.pending(pem_path, f"made from {', '.join(sources)} once they are issued")
        return True
    pem = b"".join(_with_newline(_read(path)) for path in sources)
    return files.file(pem_path, pem, 0o600, secret=True) if pem else files.absent(pem_path, secret=True)


class HAProxyHost(ServiceHost):
    """One run of the registry_lb module."""

    def run(self) -> dict:
        module, params, files = self.module, self.params, self.files
        missing = self.missing_program()
        if missing:
            return missing
        files.directory(params["config_dir"], 0o755)
        files.directory(os.path.dirname(params["runtime_socket"]), 0o755)
        ca_path = os.path.join(params["config_dir"], "ca.crt")
        config_path = os.path.join(params["config_dir"], "haproxy.cfg")
        ca = _with_newline(params["ca"].encode())
        changed = files.file(ca_path, ca, 0o644) if ca else files.absent(ca_path)
        for name, option in (("server.pem", "certificate_files"), ("client.pem", "client_certificate_files")):
            changed = certificate_file(module, files, os.path.join(params["config_dir"], name),
                                       params[option]) or changed
        config = params["config"].encode()
        if files.read(config_path) != config and not module.check_mode:
            check_config(module, config, params["config_dir"])
        changed = files.file(config_path, config, 0o640, secret=params["config_secret"]) or changed

        def ready():
            silent = [address for address in params["listen"]
                      if not listening(address_host(address), int(split_host_port(address)[1]))]
            if silent:
                return f"nothing takes connections at {', '.join(silent)}"
            socket_path = params["runtime_socket"]
            return None if os.path.exists(socket_path) else f"no runtime API socket {socket_path}"

        action = self.keep_running(params["name"], [params["binary"], "-W", "-db", "-f", config_path],
                                   description=DESCRIPTIONS.get(params["name"], f"HAProxy ({params['name']})"),
                                   files_changed=changed, ready=ready, reload_signal="USR2")
        return self.result(action, **({} if module.check_mode else {"servers": servers(params["runtime_socket"])}))
