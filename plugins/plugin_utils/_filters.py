# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what its filters share."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError


def filter_errors(name: str, function):
    """``function`` as the filter dockyard.registry.``name``: the ValueError it raises (whose message names the entry
    and the problem, never a secret) fails the task as an AnsibleFilterError that names the filter."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(f"dockyard.registry.{name}: {exc}") from exc

    return run
