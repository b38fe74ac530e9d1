# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the host's users and groups, by name or by numeric id.

An owner or a group is a name (``root``, ``registry``) or a numeric id (``0``, ``10001``, or the int), as Ansible's
``owner`` and ``group`` take them: a number is the id itself, even where no account has it (a container's user).
"""

from __future__ import annotations

import grp
import pwd


def uid(owner) -> int:
    """The user id of ``owner`` (a name or a numeric id); KeyError for a name the host does not know."""
    number = _number(owner)
    return number if number is not None else pwd.getpwnam(owner).pw_uid


def gid(group) -> int:
    """The group id of ``group`` (a name or a numeric id); KeyError for a name the host does not know."""
    number = _number(group)
    return number if number is not None else grp.getgrnam(group).gr_gid


def user_exists(user) -> bool:
    """Whether the host has the account ``user`` (a name or a numeric id)."""
    try:
        _account(user)
    except KeyError:
        return False
    return True


def primary_group(user) -> str:
    """The name of ``user``'s primary group; the user's own name where the account is not made yet (check mode)."""
    try:
        return grp.getgrgid(_account(user).pw_gid).gr_name
    except KeyError:
        return str(user)


def _account(user):
    number = _number(user)
    return pwd.getpwuid(number) if number is not None else pwd.getpwnam(user)


def _number(value) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else None
