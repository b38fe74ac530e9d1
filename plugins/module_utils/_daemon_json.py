"""Private to dockyard.registry: the pure logic of merging settings into Docker's daemon.json.

Nothing here touches a file or a process: the docker_daemon_config module reads and writes, and
asks this module what the new content is, what changed, whether a reload is enough, and which of
the daemon's command-line flags would clash with the file.
"""

from __future__ import annotations

import json

# daemon.json keys whose command-line flag is not simply ``--<key>`` (dockerd's own flag names).
_FLAGS_BY_KEY = {
    "allow-nondistributable-artifacts": ["--allow-nondistributable-artifacts"],
    "authorization-plugins": ["--authorization-plugin"],
    "debug": ["-D", "--debug"],
    "default-ulimits": ["--default-ulimit"],
    "dns-opts": ["--dns-opt"],
    "exec-opts": ["--exec-opt"],
    "group": ["-G", "--group"],
    "hosts": ["-H", "--host"],
    "insecure-registries": ["--insecure-registry"],
    "labels": ["--label"],
    "log-level": ["-l", "--log-level"],
    "log-opts": ["--log-opt"],
    "pidfile": ["-p", "--pidfile"],
    "registry-mirrors": ["--registry-mirror"],
    "runtimes": ["--add-runtime"],
    "storage-opts": ["--storage-opt"],
    "bridge": ["-b", "--bridge"],
    "tlsverify": ["--tlsverify"],
}


class DaemonJsonError(ValueError):
    """daemon.json cannot be read or merged; the message says where and why."""


def parse(text, path="daemon.json"):
    """The settings in daemon.json text; an empty file is an empty configuration.

    Raises DaemonJsonError naming the line and column of a syntax error, or saying that the
    top level is not an object.
    """
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DaemonJsonError(f"{path} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}. "
                              "Fix the file by hand; nothing was changed.") from None
    if not isinstance(settings, dict):
        raise DaemonJsonError(f"{path} must hold a JSON object, not a {type(settings).__name__}. "
                              "Fix the file by hand; nothing was changed.")
    return settings


def render(settings):
    """daemon.json text for ``settings``: two-space indentation, keys in their order, a final newline."""
    return json.dumps(settings, indent=2) + "\n"


def merge(current, wanted, state="present"):
    """The settings after applying ``wanted`` to ``current`` (neither is modified).

    With ``state=present``, a list value adds its entries that are missing (a set, the file's order
    kept, new entries appended); any other value replaces the key's value. With ``state=absent``, a
    list value removes those entries, leaving an empty list where none is left: a reload resets only the keys
    the file sets, so a key taken out would keep its entries in the running daemon. ``None`` removes the key
    whatever its value; any other value removes the key only where the file has that same value.
    Every key that ``wanted`` does not name stays as it is.
    """
    if state not in ("present", "absent"):
        raise ValueError(f"state must be present or absent, not {state!r}")
    merged = dict(current)
    for key, value in wanted.items():
        have = merged.get(key)
        if isinstance(value, list):
            if have is not None and not isinstance(have, list):
                raise DaemonJsonError(f"{key} is a list in the settings given but {type(have).__name__} in the "
                                      f"file ({have!r}); Docker expects a list there")
            have = have or []
            if state == "present":
                merged[key] = have + [entry for entry in _unique(value) if entry not in have]
            elif key in merged:
                merged[key] = [entry for entry in have if entry not in value]
        elif state == "present":
            merged[key] = value
        elif key in merged and (value is None or merged[key] == value):
            del merged[key]
    return merged


def changed_keys(before, after):
    """The keys whose value differs between two configurations, in a stable order."""
    return sorted(key for key in set(before) | set(after) if before.get(key, _MISSING) != after.get(key, _MISSING))


def flags_for(key):
    """The dockerd command-line flags that set the same thing as daemon.json's ``key``."""
    return _FLAGS_BY_KEY.get(key, [f"--{key}"])


def flag_conflicts(settings, argv):
    """The (key, flag) pairs where ``argv`` (the daemon's command line) sets what daemon.json sets too.

    dockerd refuses to start, and ignores a reload, when a directive is given both ways.
    """
    given = set()
    for arg in argv[1:]:
        if arg.startswith("--"):
            given.add(arg.split("=", 1)[0])
        elif arg.startswith("-") and len(arg) >= 2:
            given.add(arg[:2])
    return [(key, flag) for key in settings for flag in flags_for(key) if flag in given]


def _unique(values):
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()
