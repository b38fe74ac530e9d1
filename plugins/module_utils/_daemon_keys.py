# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: which daemon.json keys each Docker engine knows and reloads.

Pure data and the questions asked of it. Engines from 23.0 check a file themselves (``dockerd --validate``);
20.10 cannot, so its keys are listed here: every top-level key dockerd 20.10.24 accepts (read from dockerd itself:
a file of every candidate name, which it answers by naming those that "don't match any configuration option").
"""

from __future__ import annotations

# The engine releases whose keys this module can judge without the daemon's help.
FIRST_COVERED = (20, 10)
# From this release on, ``dockerd --validate`` judges a file, unknown keys included.
VALIDATES_ITSELF = (23, 0)

KNOWN_20_10 = frozenset({
    "add-runtime", "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugin",
    "authorization-plugins", "bip", "bridge", "builder", "cgroup-parent", "cluster-advertise", "cluster-store",
    "cluster-store-opt", "cluster-store-opts", "config-file", "containerd", "containerd-namespace",
    "containerd-plugins-namespace", "cpu-rt-period", "cpu-rt-runtime", "cri-containerd", "data-root", "debug",
    "default-address-pool", "default-address-pools", "default-cgroupns-mode", "default-gateway", "default-gateway-v6",
    "default-ipc-mode", "default-runtime", "default-shm-size", "default-ulimit", "default-ulimits",
    "deprecated-key-path", "dns", "dns-opt", "dns-opts", "dns-search", "exec-opt", "exec-opts", "exec-root",
    "experimental", "features", "fixed-cidr", "fixed-cidr-v6", "graph", "group", "help", "host", "host-gateway-ip",
    "hosts", "icc", "init", "init-path", "insecure-registries", "insecure-registry", "ip", "ip-forward", "ip-masq",
    "ip6tables", "iptables", "ipv6", "label", "labels", "live-restore", "log-driver", "log-level", "log-opt",
    "log-opts", "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts", "metrics-addr", "mtu",
    "network-control-plane-mtu", "network-diagnostic-port", "no-new-privileges", "node-generic-resource",
    "node-generic-resources", "oom-score-adjust", "pidfile", "raw-logs", "registry-mirror", "registry-mirrors",
    "restart", "rootless", "runtimes", "seccomp-profile", "selinux-enabled", "shutdown-timeout", "storage-driver",
    "storage-opt", "storage-opts", "swarm-default-advertise-addr", "tls", "tlscacert", "tlscert", "tlskey",
    "tlsverify", "userland-proxy", "userland-proxy-path", "userns-remap", "version",
})

# Keys a reload (SIGHUP) applies, from moby's daemon/reload.go and reload_unix.go, the same from 20.10 to 28; the
# value is the first release that no longer knows the key, if one does not.
RELOADABLE = {
    "allow-nondistributable-artifacts": (29, 0),
    "debug": None,
    "default-cgroupns-mode": None,
    "default-ipc-mode": None,
    "default-runtime": None,
    "default-shm-size": None,
    "features": None,
    "insecure-registries": None,
    "labels": None,
    "live-restore": None,
    "max-concurrent-downloads": None,
    "max-concurrent-uploads": None,
    "max-download-attempts": None,
    "network-diagnostic-port": None,
    "registry-mirrors": None,
    "runtimes": None,
    "shutdown-timeout": None,
}

# Reloadable keys that a reload resets to their default when the file no longer sets them. A reload leaves every other
# key the file no longer sets as it was (daemon/reload.go applies a key only where ``IsValueSet``), so taking one of
# those out of the file takes a restart.
RESET_WHEN_UNSET = frozenset({
    "features", "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts", "network-diagnostic-port",
})

# Settings of the default bridge network. A daemon that starts while containers run (kept by live-restore) leaves
# that network as it was ("There are old running containers, the network config will not take affect"): these
# take effect once no container runs and the daemon starts again.
DEFAULT_BRIDGE_KEYS = frozenset({
    "bip", "bridge", "default-gateway", "default-gateway-v6", "fixed-cidr", "fixed-cidr-v6", "icc", "ip", "ip-masq",
    "ipv6", "mtu",
})


def reloadable(key: str, version: tuple = ()) -> bool:
    """Whether a reload of an engine of ``version`` (``(20, 10, 24)``; empty when unknown) applies ``key``."""
    if key not in RELOADABLE:
        return False
    gone = RELOADABLE[key]
    return gone is None or not version or tuple(version) < gone


def lightest_action(keys, version: tuple = (), removed=()) -> str:
    """``none``, ``reload`` or ``restart``: what applying a change to daemon.json's ``keys`` takes.

    ``removed`` are those of the keys that the file no longer sets at all.
    """
    keys = list(keys)
    if not keys:
        return "none"
    return "reload" if all(reloadable(key, version) and (key not in removed or key in RESET_WHEN_UNSET)
                           for key in keys) else "restart"


def unknown_keys(keys, version: tuple) -> list[str] | None:
    """The keys an engine of ``version`` would refuse as unknown, or None where this module cannot tell.

    None for engines that check a file themselves (23.0 and later: ``dockerd --validate``), for releases older than
    20.10, and when the version is unknown.
    """
    if not version or tuple(version) < FIRST_COVERED or tuple(version) >= VALIDATES_ITSELF:
        return None
    return sorted(key for key in keys if key not in KNOWN_20_10)


def version_text(version: tuple) -> str:
    return ".".join(str(part) for part in version) if version else "unknown"
