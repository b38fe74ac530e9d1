# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for retention rules: checking them before anything changes."""

from __future__ import annotations

from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention import rule_problems


def retention_rule_problems(rules, name: str = "rules") -> list[str]:
    """Why ``rules`` cannot be used, each message naming ``name`` (the variable) and the rule's option; none for an
    empty list, which sets no rules."""
    return rule_problems(rules, name)


class FilterModule:
    """Retention rules."""

    def filters(self):
        return {"retention_rule_problems": retention_rule_problems}
