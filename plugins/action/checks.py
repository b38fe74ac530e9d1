# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dockyard.registry.checks: many assertions in one task, each with its own message, all of them evaluated.

A chain of ``ansible.builtin.assert`` tasks costs a task's overhead per assertion and stops at the first one that
fails. This action evaluates every applicable check of its list on the controller, and fails naming each check that
does not hold.

On ansible-core 2.19 and later the task's ``checks`` are not templated up front (``finalize_task_arg``): the
conditions of ``that`` and ``when`` are evaluated as conditionals, and the message of a check is templated only when
that check fails, so that it may refer to variables that exist only where the check applies. Before 2.19 Ansible
templates every argument before the action runs: there every message must template whether or not its check applies.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

KEYS = frozenset(("that", "msg", "when"))


class Check(t.NamedTuple):
    """One check: conditions that must all hold, its message, and the conditions under which it applies."""

    that: list[t.Any]
    msg: str
    when: list[t.Any]


class Failure(t.NamedTuple):
    """A check that failed: its message (templated where possible) and the condition that was false."""

    msg: str
    assertion: t.Any


def _describe(entry: t.Any) -> str:
    text = repr(entry)
    return text if len(text) <= 120 else text[:117] + "..."


def _conditions(entry: t.Any, key: str, index: int, required: bool) -> list[t.Any]:
    value = entry.get(key)
    if value is None and not required:
        return []
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, (str, bool)) for item in values) or any(
            isinstance(item, str) and not item.strip() for item in values):
        raise ValueError(f"checks[{index}]: {key} must be a condition or a non-empty list of conditions (strings); "
                         f"got {_describe(value)} in {_describe(entry)}")
    return values


def normalize_checks(value: t.Any) -> list[Check]:
    """The checks of the task's ``checks``, each with lists of conditions; a ValueError or TypeError names a bad entry."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"checks must be a non-empty list of checks (dictionaries with that and msg); got {_describe(value)}")
    checks = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise TypeError(f"checks[{index}] must be a dictionary with that and msg (and optionally when); "
                            f"got {_describe(entry)}")
        unknown = sorted(str(key) for key in entry if key not in KEYS)
        if unknown:
            raise ValueError(f"checks[{index}] has keys other than that, msg and when ({', '.join(unknown)}): "
                             f"{_describe(entry)}")
        for key in ("that", "msg"):
            if key not in entry:
                raise ValueError(f"checks[{index}] has no {key}: {_describe(entry)}")
        msg = entry["msg"]
        if not isinstance(msg, str) or not msg.strip():
            raise ValueError(f"checks[{index}]: msg must be a non-empty string; got {_describe(msg)} in {_describe(entry)}")
        checks.append(Check(that=_conditions(entry, "that", index, True), msg=msg,
                            when=_conditions(entry, "when", index, False)))
    return checks


def run_checks(checks: list[Check], evaluate: t.Callable[[t.Any], bool],
               render: t.Callable[[str], str]) -> tuple[list[Failure], int]:
    """Every check whose ``when`` conditions all hold, evaluated in full: the failures, and how many checks applied.

    ``evaluate`` evaluates one condition, ``render`` templates the message of a failed check. A check whose
    conditions cannot be evaluated (an error) counts as failed, its message saying why. A condition that several
    checks share (a guard such as "the accounts are well formed") is evaluated once: the variables do not change
    between the checks of one task, and each evaluation templates every variable it names again.
    """
    failures = []
    applied = 0
    evaluated: dict[t.Any, bool] = {}

    def holds(condition: t.Any) -> bool:
        if condition not in evaluated:
            evaluated[condition] = evaluate(condition)
        return evaluated[condition]

    for check in checks:
        condition = None
        counted = False
        try:
            applies = True
            for condition in check.when:
                if not holds(condition):
                    applies = False
                    break
            if not applies:
                continue
            applied += 1
            counted = True
            for condition in check.that:
                if not holds(condition):
                    failures.append(Failure(msg=_render(render, check.msg), assertion=condition))
                    break
        except AnsibleError as exc:
            applied += 0 if counted else 1
            failures.append(Failure(msg=f"{_render(render, check.msg)} (The condition {condition!r} could not be "
                                        f"evaluated: {_error(exc)})", assertion=condition))
    return failures, applied


def _error(exc: AnsibleError) -> str:
    return str(getattr(exc, "message", None) or exc).strip()


def _render(render: t.Callable[[str], str], msg: str) -> str:
    try:
        return str(render(msg)).strip()
    except AnsibleError as exc:
        return f"{msg.strip()} (The message could not be templated: {_error(exc)})"


class ActionModule(ActionBase):
    """Evaluate a list of checks, each a set of conditions with its own message, and fail listing every one that fails."""

    _requires_connection = False
    _VALID_ARGS = frozenset(("checks",))

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        """ansible-core 2.19+: ``checks`` is not templated as a whole; run() evaluates its parts one by one."""
        if name != "checks":
            return super().finalize_task_arg(name, value, templar, context)
        if isinstance(value, str):
            # checks: "{{ some_list }}" names the list, whose contents stay as they are.
            try:
                resolved = templar.resolve_to_container(value)
            except AnsibleError:
                return value
            return resolved if isinstance(resolved, list) else value
        return value

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = {}
        result = super().run(tmp, task_vars)
        del tmp

        try:
            checks = normalize_checks(self._task.args.get("checks"))
        except (TypeError, ValueError) as exc:
            result.update(failed=True, changed=False, msg=f"dockyard.registry.checks: {exc}")
            return result

        templar = self._templar
        if hasattr(templar, "evaluate_conditional"):
            # ansible-core 2.19+: the messages were left as written (finalize_task_arg).
            evaluate = templar.evaluate_conditional

            def render(msg: str) -> str:
                return templar.template(msg)
        else:
            # ansible-core 2.17 and 2.18: the arguments were templated before run(), as assert's fail_msg is.
            from ansible.playbook.conditional import Conditional  # pylint: disable=import-outside-toplevel

            conditional = Conditional(loader=self._loader)

            def evaluate(condition: t.Any) -> bool:
                conditional.when = [condition]
                return conditional.evaluate_conditional(templar=templar, all_vars=task_vars)

            def render(msg: str) -> str:
                return msg

        failures, applied = run_checks(checks, evaluate, render)
        result["changed"] = False
        if failures:
            result["failed"] = True
            result["msg"] = "\n".join(failure.msg for failure in failures)
            result["failed_checks"] = [failure.msg for failure in failures]
            result["failed_assertions"] = [failure.assertion for failure in failures]
        else:
            skipped = len(checks) - applied
            result["msg"] = f"All {applied} checks passed" + (f" ({skipped} did not apply)" if skipped else "") + "."
        return result
