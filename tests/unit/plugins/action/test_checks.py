"""dockyard.registry.checks: its input, its evaluation of every applicable check, and a real run of it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
from ansible.errors import AnsibleUndefinedVariable
from ansible.module_utils.ansible_release import __version__ as ansible_version

from ansible_collections.dockyard.registry.plugins.action import checks as plugin
from ansible_collections.dockyard.registry.plugins.action.checks import Check, Failure, normalize_checks, run_checks

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
# ansible-core 2.19 leaves the messages untemplated until their check fails (finalize_task_arg).
LAZY_MESSAGES = tuple(int(part) for part in ansible_version.split(".")[:2]) >= (2, 19)


# --- The task's input ---

def test_a_condition_or_a_list_of_them_becomes_a_list():
    checks = normalize_checks([
        {"that": "a", "msg": "one"},
        {"that": ["b", "c"], "msg": "two", "when": "d"},
        {"that": [True], "msg": "three", "when": ["e", "f"]},
    ])
    assert checks == [Check(["a"], "one", []), Check(["b", "c"], "two", ["d"]), Check([True], "three", ["e", "f"])]


@pytest.mark.parametrize(("value", "named"), [
    (None, "checks must be a non-empty list"),
    ([], "checks must be a non-empty list"),
    ({"that": "a", "msg": "b"}, "checks must be a non-empty list"),
    ([{"that": "a", "msg": "b"}, "a"], "checks[1] must be a dictionary"),
    ([{"msg": "b"}], "checks[0] has no that"),
    ([{"that": "a"}], "checks[0] has no msg"),
    ([{"that": "a", "msg": "b", "fail_msg": "c"}], "checks[0] has keys other than that, msg and when (fail_msg)"),
    ([{"that": [], "msg": "b"}], "checks[0]: that must be a condition or a non-empty list"),
    ([{"that": ["a", 1], "msg": "b"}], "checks[0]: that must be a condition"),
    ([{"that": " ", "msg": "b"}], "checks[0]: that must be a condition"),
    ([{"that": "a", "msg": ""}], "checks[0]: msg must be a non-empty string"),
    ([{"that": "a", "msg": ["b"]}], "checks[0]: msg must be a non-empty string"),
    ([{"that": "a", "msg": "b", "when": {"x": 1}}], "checks[0]: when must be a condition"),
], ids=["none", "empty", "a-dict", "a-string-entry", "no-that", "no-msg", "unknown-key", "empty-that",
        "non-string-condition", "blank-condition", "empty-msg", "list-msg", "dict-when"])
def test_malformed_input_is_refused_naming_the_entry(value, named):
    with pytest.raises((TypeError, ValueError)) as raised:
        normalize_checks(value)
    assert named in str(raised.value)


# --- Evaluation, with conditions that are Python expressions over a dictionary ---

def evaluator(variables: dict):
    def evaluate(condition):
        if isinstance(condition, bool):
            return condition
        try:
            return bool(eval(condition, {}, dict(variables)))  # pylint: disable=eval-used
        except NameError as exc:
            raise AnsibleUndefinedVariable(str(exc)) from exc
    return evaluate


def render(msg: str) -> str:
    """Stands for the templar: {name} is replaced with the variable, a missing one is an error."""
    try:
        return msg.format(**VARIABLES)
    except KeyError as exc:
        raise AnsibleUndefinedVariable(f"{exc} is undefined") from exc


VARIABLES = {"port": 99999, "mode": "archive", "cost": 10}


def test_every_check_is_evaluated_and_each_failure_named():
    checks = normalize_checks([
        {"that": ["port >= 1", "port <= 65535"], "msg": "port {port} is out of range"},
        {"that": "cost >= 4", "msg": "cost"},
        {"that": "mode in ['pull', 'package']", "msg": "mode {mode} is unknown"},
    ])
    failures, applied = run_checks(checks, evaluator(VARIABLES), render)
    assert applied == 3
    assert failures == [Failure("port 99999 is out of range", "port <= 65535"),
                        Failure("mode archive is unknown", "mode in ['pull', 'package']")]


def test_a_check_applies_only_where_all_its_when_conditions_hold():
    checks = normalize_checks([
        {"when": "mode == 'archive'", "that": "False", "msg": "applies"},
        {"when": ["mode == 'archive'", "cost > 100"], "that": "False", "msg": "does not apply"},
        # Its message names a variable that exists only where the check applies: it is never rendered.
        {"when": "mode == 'pull'", "that": "False", "msg": "{archive}"},
    ])
    failures, applied = run_checks(checks, evaluator(VARIABLES), render)
    assert applied == 1
    assert failures == [Failure("applies", "False")]


def test_a_condition_several_checks_share_is_evaluated_once():
    calls = []
    evaluate = evaluator(VARIABLES)

    def counting(condition):
        calls.append(condition)
        return evaluate(condition)

    checks = normalize_checks([
        {"when": "cost >= 4", "that": "port > 65535", "msg": "first"},
        {"when": ["cost >= 4", "mode == 'archive'"], "that": "port > 65535", "msg": "second"},
        {"that": ["cost >= 4", "mode == 'pull'"], "msg": "third {mode}"},
    ])
    failures, applied = run_checks(checks, counting, render)
    assert (applied, [failure.msg for failure in failures]) == (3, ["third archive"])
    assert calls == ["cost >= 4", "port > 65535", "mode == 'archive'", "mode == 'pull'"]


def test_all_passing_checks_fail_nothing():
    checks = normalize_checks([{"that": "port > 0", "msg": "m"}, {"when": "False", "that": "False", "msg": "m"}])
    assert run_checks(checks, evaluator(VARIABLES), render) == ([], 1)


def test_a_condition_that_cannot_be_evaluated_fails_its_check_saying_why():
    checks = normalize_checks([{"that": ["port > 0", "missing > 1"], "msg": "port {port}"},
                               {"that": "cost > 100", "msg": "cost {cost}"}])
    failures, applied = run_checks(checks, evaluator(VARIABLES), render)
    assert applied == 2
    assert failures[0].assertion == "missing > 1"
    assert failures[0].msg.startswith("port 99999 (The condition 'missing > 1' could not be evaluated: ")
    assert "missing" in failures[0].msg
    assert failures[1] == Failure("cost 10", "cost > 100")


def test_a_message_that_cannot_be_templated_is_shown_as_written():
    checks = normalize_checks([{"that": "False", "msg": "needs {nothing}"}])
    failures = run_checks(checks, evaluator(VARIABLES), render)[0]
    assert failures[0].msg.startswith("needs {nothing} (The message could not be templated: ")


# --- The action on ansible-core 2.17 and 2.18, which cannot run here (2.19 is installed): its conditions go
# --- through ansible.playbook.conditional.Conditional, stood in for below. On 2.19 the real run further down
# --- covers the action itself.

def action(args: dict, templar) -> plugin.ActionModule:
    task = mock.MagicMock(args=args, async_val=0, action="dockyard.registry.checks")
    return plugin.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=templar,
                               shared_loader_obj=None)


def test_before_2_19_conditions_go_through_conditional_and_messages_stay_as_templated():
    """ansible-core 2.17 and 2.18: no evaluate_conditional on the templar; the arguments are templated already."""
    templar = mock.NonCallableMock(spec=["template"])
    evaluated = []

    class Conditional:
        def __init__(self, loader):
            self.when = []

        def evaluate_conditional(self, templar, all_vars):
            evaluated.append((self.when, all_vars))
            return evaluator(all_vars)(self.when[0])

    with mock.patch("ansible.playbook.conditional.Conditional", Conditional):
        result = action({"checks": [{"that": "port <= 65535", "msg": "port {port}"}]}, templar).run(task_vars=VARIABLES)
    assert result["msg"] == "port {port}"
    assert evaluated == [(["port <= 65535"], VARIABLES)]
    templar.template.assert_not_called()


# --- A real run ---

PLAYBOOK = """\
- name: Checks
  hosts: localhost
  gather_facts: false
  vars:
    listen_port: 99999
    source: archive
  tasks:
    - name: Checks that pass
      dockyard.registry.checks:
        checks:
          - that: source in ['pull', 'archive']
            msg: "source must be pull or archive; got {{ source }}."
          - when: source == 'pull'
            that: false
            msg: "never shown"
      register: passed

    - name: Show the outcome of the checks that passed
      ansible.builtin.debug:
        msg: "PASSED: {{ passed.msg }}"

    - name: Checks that fail
      dockyard.registry.checks:
        checks:
          - that:
              - listen_port | int >= 1
              - listen_port | int <= 65535
            msg: "listen_port must be from 1 to 65535; got {{ listen_port }}."
          - that: source == 'pull'
            msg: "source is {{ source }}, not pull."
          - that: true
            msg: "a check that holds"
          - when: source == 'archive'
            that: archive is defined
            msg: "source is archive but archive is not given."
          # Its message names a variable that exists only where the check applies.
          - when: only_for_package is defined
            that: false
            msg: "{{ only_for_package['name'] }} is not there."
"""


def run_playbook(tmp_path) -> subprocess.CompletedProcess:
    playbook = tmp_path / "checks.yml"
    playbook.write_text(textwrap.dedent(PLAYBOOK))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.mark.skipif(not LAZY_MESSAGES, reason="messages are templated up front before ansible-core 2.19")
def test_a_playbook_run_lists_every_failing_message(tmp_path):
    run = run_playbook(tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "PASSED: All 1 checks passed (1 did not apply)." in output
    recap = [line for line in run.stdout.splitlines() if line.startswith("localhost")]
    assert recap and "ok=2" in recap[0] and "failed=1" in recap[0], output
    assert ("listen_port must be from 1 to 65535; got 99999.\n"
            "source is archive, not pull.\n"
            "source is archive but archive is not given.") in output
    assert "failed_assertions:\n    - listen_port | int <= 65535\n    - source == 'pull'\n    - archive is defined\n" in output
    assert "a check that holds" not in output
    # The message of the check that did not apply was never templated: no error about only_for_package either.
    assert "is not there" not in output and "only_for_package" not in output
