# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: reading the runtimes' TOML files, and editing them in place.

Reading is the standard library's ``tomllib`` (strict TOML 1.0, as containerd's and containers/image's parsers
are). A parse error becomes a :class:`~.plan.RuntimeConfigError` naming the file, the line and the column.

Editing is tomlkit's (the OS package ``python3-tomlkit``), which keeps every comment, blank line and indentation of
a file it did not change; the host needs it only where a file must change. An edit is parsed again with ``tomllib``
and must mean exactly what was intended, or it is not made.
"""

from __future__ import annotations

import re

import tomllib

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import RuntimeConfigError

try:
    import tomlkit
    import tomlkit.exceptions
    import tomlkit.items
except ImportError:
    tomlkit = None

_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def loads(content: bytes, path: str) -> dict:
    """The TOML document in ``content`` (the bytes of the file ``path``); errors name the file and the line."""
    text = decode(content, path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _POSITION.search(message)
        reason = _POSITION.sub("", message).strip()
        where = f"line {position.group(1)}, column {position.group(2)}" if position else "at its end"
        raise RuntimeConfigError(f"{path} is not valid TOML: {where}: {reason}. Fix the file by hand; nothing "
                                 "was changed.") from None


def decode(content: bytes, path: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        raise RuntimeConfigError(f"{path} is not valid TOML: line {line}: it is not UTF-8. Fix the file by hand; "
                                 "nothing was changed.") from None


def basic_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " or ch == "\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def string_array(values) -> str:
    return "[" + ", ".join(basic_string(value) for value in values) + "]"


def dotted_key(path) -> str:
    """``a."b.c".d`` for the key path ``("a", "b.c", "d")``: bare keys where they can be, basic strings otherwise."""
    return ".".join(key if _BARE_KEY.fullmatch(key) else basic_string(key) for key in path)


def with_key(text: str, path: str, table, key: str, value: str) -> str | None:
    """``text`` with ``key = value`` in ``table`` (a key path; made where it is missing), edited with tomlkit: every
    other byte as it was. None where the result does not parse back (with the standard library's parser, as
    containerd's is strict TOML too) to exactly what ``text`` means with that one key set.

    A new table is indented as its sibling tables are, and a new key two spaces deeper than its table's header, as
    containerd writes its own files. A file with CRLF line endings throughout keeps them.
    """
    library = _tomlkit(path)
    expected = loads(text.encode(), path)
    parent = expected
    for part in table:
        parent = parent.setdefault(part, {})
        if not isinstance(parent, dict):
            return None
    parent[key] = value
    crlf = "\r\n" in text and "\n" not in text.replace("\r\n", "")
    try:
        document = library.parse(text.replace("\r\n", "\n") if crlf else text)
        node = document
        for part in table:
            if part not in node:
                _add_table(node, part, library)
            node = node[part]
        new_key = key not in node
        node[key] = value
        if new_key and isinstance(node, library.items.Table):
            node[key].indent(len(node.trivia.indent.lstrip("\n")) + 2)
        edited = document.as_string()
    except (library.exceptions.TOMLKitError, TypeError, ValueError, KeyError, AttributeError):
        return None  # a shape tomlkit cannot extend (an array of tables, a value where a table should be)
    edited = edited.replace("\n", "\r\n") if crlf else edited
    try:
        return edited if loads(edited.encode(), path) == expected else None
    except RuntimeConfigError:
        return None


def _add_table(parent, name: str, library) -> None:
    """A new table ``name`` after what ``parent`` holds (where tomlkit puts it), its header indented as the first
    table already in ``parent`` is."""
    siblings = [item for item in parent.values() if isinstance(item, library.items.Table)]
    parent[name] = library.table()
    if siblings:
        parent[name].indent(len(siblings[0].trivia.indent.lstrip("\n")))


def _tomlkit(path: str):
    if tomlkit is None:
        raise RuntimeConfigError(f"{path} must change, and editing it needs the Python library tomlkit on the host: "
                                 "install the OS package python3-tomlkit (dockyard.registry.host_requirements names it "
                                 "for each package manager, and the collection's preflight installs it); nothing was "
                                 "changed.")
    return tomlkit


def lookup(document: dict, path) -> object:
    """The value at ``path`` in a parsed document, or None."""
    node = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
