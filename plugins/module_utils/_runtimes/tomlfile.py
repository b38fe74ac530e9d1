# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: reading the runtimes' TOML files, and editing them in place.

Reading is the standard library's ``tomllib`` (strict TOML 1.0, as containerd's and containers/image's parsers
are). A parse error becomes a
:class:`~.files.RuntimeConfigError` naming the file, the line and the column.

Editing never re-renders a file: :func:`statements` finds where each table header and key/value statement
starts and ends (it follows strings, arrays and inline tables across lines), so that a caller can insert or
replace whole lines and leave every other byte as it was. A caller checks its edit by parsing the result again.
"""

from __future__ import annotations

import dataclasses
import re

import tomllib

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.files import RuntimeConfigError

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


def quote_key(key: str) -> str:
    """A key as TOML writes it: bare where it can be, a basic string otherwise."""
    return key if _BARE_KEY.fullmatch(key) else basic_string(key)


def header(path) -> str:
    """``[a."b.c".d]`` for the table path ``("a", "b.c", "d")``."""
    return "[" + ".".join(quote_key(key) for key in path) + "]"


def basic_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " or ch == "\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def string_array(values) -> str:
    return "[" + ", ".join(basic_string(value) for value in values) + "]"


@dataclasses.dataclass(frozen=True)
class Statement:
    """A table header (``table``, ``array``) or a ``key`` = value, and the lines it spans (0-based, inclusive)."""

    kind: str
    path: tuple
    first_line: int
    last_line: int
    indent: str


def statements(text: str) -> list:
    """Every table header and key/value statement of a valid TOML document, in order.

    Only for text that :func:`loads` accepted: it finds where statements start and end, and does not check them.
    """
    found = []
    scanner = _Scanner(text)
    while True:
        scanner.skip_blank()
        if scanner.at_end():
            return found
        line, indent = scanner.line, scanner.indent()
        if scanner.peek() == "[":
            kind = "array" if scanner.peek(2) == "[[" else "table"
            scanner.advance(2 if kind == "array" else 1)
            path = scanner.key("]")
            scanner.advance(2 if kind == "array" else 1)
        else:
            kind = "key"
            path = scanner.key("=")
            scanner.advance(1)
            scanner.skip_value()
        scanner.skip_to_line_end()
        found.append(Statement(kind, path, line, scanner.line, indent))
        scanner.next_line()


class _Scanner:
    """A cursor over TOML text that knows strings, comments and brackets, enough to find statements' bounds."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos:self.pos + count]

    def advance(self, count: int = 1) -> None:
        for _step in range(count):
            if self.pos < len(self.text) and self.text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def indent(self) -> str:
        start = self.text.rfind("\n", 0, self.pos) + 1
        return self.text[start:self.pos]

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t") and not self.at_end():
            self.advance()

    def skip_blank(self) -> None:
        """Whitespace, newlines and comments between statements."""
        while not self.at_end():
            char = self.peek()
            if char in " \t\r\n":
                self.advance()
            elif char == "#":
                self.skip_to_line_end()
            else:
                return

    def skip_to_line_end(self) -> None:
        """To the newline that ends the current line (a comment on it included); not past it."""
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def next_line(self) -> None:
        if self.peek() == "\n":
            self.advance()

    def key(self, stop: str) -> tuple:
        """A dotted key, up to (not past) the first character of ``stop`` outside quotes."""
        parts = []
        while True:
            self.skip_spaces()
            char = self.peek()
            if char == '"':
                parts.append(self._basic_string())
            elif char == "'":
                end = self.text.index("'", self.pos + 1)
                parts.append(self.text[self.pos + 1:end])
                self.pos = end + 1
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                parts.append(match.group(0))
                self.pos = match.end()
            self.skip_spaces()
            if self.peek() != ".":
                break
            self.advance()
        if self.peek() not in stop:
            raise ValueError(f"unexpected {self.peek()!r} after key {parts}")
        return tuple(parts)

    def _basic_string(self) -> str:
        end = self.pos + 1
        while self.text[end] != '"':
            end += 2 if self.text[end] == "\\" else 1
        raw = self.text[self.pos:end + 1]
        self.pos = end + 1
        return tomllib.loads(f"k = {raw}")["k"]

    def skip_value(self) -> None:
        """Past one value, whatever lines its strings, arrays and inline tables span."""
        depth = 0
        while not self.at_end():
            char = self.peek()
            if char in ('"', "'"):
                self._skip_string(char)
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
            elif char == "#":
                self.skip_to_line_end()
                continue
            elif char == "\n" and depth == 0:
                return
            self.advance()

    def _skip_string(self, quote: str) -> None:
        if self.peek(3) == quote * 3:
            self.advance(3)
            while not self.at_end():
                if quote == '"' and self.peek() == "\\":
                    self.advance(2)
                elif self.peek(3) == quote * 3:
                    self.advance(3)
                    while self.peek() == quote:  # up to two quotes may close the content
                        self.advance()
                    return
                else:
                    self.advance()
            return
        self.advance()
        while not self.at_end() and self.peek() != quote:
            self.advance(2 if quote == '"' and self.peek() == "\\" else 1)
        self.advance()


def lookup(document: dict, path) -> object:
    """The value at ``path`` in a parsed document, or None."""
    node = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
