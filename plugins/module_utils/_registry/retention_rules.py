# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: retention rules, what a rule says and why one cannot be used.

Pure and light (the standard library only): the rule_problems filter imports it, and Ansible loads every filter file
of the collection in each task that uses any of them, so it must not import what talking to a registry needs (the
Docker SDK, the registry client).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re

RULE_KEEPS = ("keep_newest", "keep_tags", "keep_days")
# A rule's options, as the modules that take rules declare them (registry_retention, registry_gc_schedule).
RULE_OPTIONS = {
    "repository": {"type": "str", "required": True},
    "keep_newest": {"type": "int"},
    "keep_tags": {"type": "list", "elements": "str"},
    "keep_days": {"type": "int"},
}


class RetentionRuleError(ValueError):
    """A rule cannot be used; the message names the option and the fix."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """Which repositories (a glob) and what of them stays; ``keep_tags`` are regular expressions matched whole."""

    repository: str
    keep_newest: int | None = None
    keep_tags: tuple[re.Pattern, ...] = ()
    keep_days: int | None = None

    def matches(self, repository: str) -> bool:
        return fnmatch.fnmatchcase(repository, self.repository)


def _glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable glob, or None. fnmatch reads an unclosed ``[`` as a literal: refused here."""
    if not pattern:
        return "it is empty"
    index = 0
    while index < len(pattern):
        if pattern[index] == "[":
            end = index + 1
            if end < len(pattern) and pattern[end] == "!":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            end = pattern.find("]", end)
            if end < 0:
                return f"the [ at position {index} is never closed"
            index = end
        index += 1
    return None


def parse_rules(rules) -> list[Rule]:
    """The rules as given to the module, checked all at once; raises naming every wrong option and its fix."""
    if not rules:
        raise RetentionRuleError("rules is empty: give at least one rule (repository, and keep_newest, keep_tags or "
                                 "keep_days); without rules nothing would say what to keep")
    problems, parsed = _checked(rules, "rules")
    if problems:
        raise RetentionRuleError("; ".join(problems) + ". Nothing was deleted.")
    return parsed


def rule_problems(rules, name: str = "rules") -> list[str]:
    """Why ``rules`` (as a user wrote them: any value) cannot be used, one message each, each naming ``name`` and
    the rule's option; none for an empty list or None, which set no rules."""
    if rules is None or rules == []:
        return []
    if not isinstance(rules, (list, tuple)):
        return [f"{name} must be a list of rules, not {type(rules).__name__} {rules!r}"]
    problems = []
    for number, rule in enumerate(rules):
        if not isinstance(rule, dict):
            problems.append(f"{name}[{number}] must be a mapping (repository, and keep_newest, keep_tags or "
                            f"keep_days), not {rule!r}")
            continue
        unknown = sorted(str(key) for key in rule if key not in RULE_OPTIONS)
        if unknown:
            problems.append(f"{name}[{number}] has options no rule takes: {', '.join(unknown)} (a rule takes "
                            f"{', '.join(RULE_OPTIONS)})")
        if not isinstance(rule.get("keep_tags") or [], (list, tuple)):
            problems.append(f"{name}[{number}].keep_tags must be a list of regular expressions, not "
                            f"{rule['keep_tags']!r}")
        if not isinstance(rule.get("repository") or "", str):
            problems.append(f"{name}[{number}].repository must be a string (a glob), not {rule['repository']!r}")
    if problems:
        return problems
    # As the modules' argument specs convert them: whole numbers written as strings are numbers.
    converted = [{**rule, **{key: int(rule[key]) for key in ("keep_newest", "keep_days")
                             if isinstance(rule.get(key), str) and rule[key].strip().isdigit()}} for rule in rules]
    return _checked(converted, name)[0]


def _checked(rules, name: str) -> tuple[list[str], list[Rule]]:
    """Every problem of ``rules`` (a list of mappings), naming ``name``, and the rules where there is none."""
    problems, parsed = [], []
    for number, rule in enumerate(rules):
        where = f"{name}[{number}]"
        repository = rule.get("repository")
        problem = _glob_problem(repository or "")
        if problem:
            problems.append(f"{where}.repository {repository!r} is not a valid glob: {problem}")
        if all(rule.get(key) is None for key in RULE_KEEPS):
            problems.append(f"{where} keeps nothing: give keep_newest, keep_tags or keep_days (keep_newest: 0 to "
                            "delete every tag of the repositories it matches)")
        for key in ("keep_newest", "keep_days"):
            value = rule.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                problems.append(f"{where}.{key} must be a whole number of 0 or more, not {value!r}")
        patterns = []
        for position, text in enumerate(rule.get("keep_tags") or []):
            try:
                patterns.append(re.compile(text))
            except (re.error, TypeError) as exc:
                problems.append(f"{where}.keep_tags[{position}] {text!r} is not a valid regular expression: {exc}")
        if not problems:
            parsed.append(Rule(repository, rule.get("keep_newest"), tuple(patterns), rule.get("keep_days")))
    return problems, parsed


def rule_for(rules: list[Rule], repository: str) -> Rule | None:
    """The first rule whose glob matches ``repository``."""
    return next((rule for rule in rules if rule.matches(repository)), None)
