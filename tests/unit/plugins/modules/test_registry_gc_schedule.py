"""dockyard.registry.registry_gc_schedule, run as Ansible runs it on a host: what it refuses before any change, and
the job's code, which runs on the registry host without Ansible. The molecule scenario default installs the job
with cron and waits for a run it started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from module_process import run_module as run_module_process

from ansible_collections.dockyard.registry.plugins.modules.registry_gc_schedule import PACKAGE, job_sources


def run_module(args: dict, tmp_path: Path, check_mode: bool = False) -> dict:
    return run_module_process("registry_gc_schedule", args, tmp_path, check_mode)


@pytest.fixture
def job(tmp_path) -> dict:
    return {"state_dir": str(tmp_path / "state"), "log": str(tmp_path / "log" / "gc.log"),
            "name": "dockyard-test-gc", "readonly_config": "storage: {maintenance: {readonly: {enabled: true}}}\n"}


@pytest.mark.parametrize(("schedule", "manager", "message"), [
    ("61 * * * *", "direct", "schedule: the minute field holds '61', which is not from 0 to 59"),
    ("* * * * *\n* * * * * root sh", "direct", "schedule: '* * * * *\\n* * * * * root sh' holds a line break"),
    ("Sun *-*-* 03:30:00", "direct", "schedule: 'Sun *-*-* 03:30:00' is an OnCalendar expression, which only"),
    ("0 4 1 * 1", "systemd", "schedule: '0 4 1 * 1': cron runs a schedule that restricts both"),
    ("Sun *-*-* 25:00:00", "systemd", "schedule: 'Sun *-*-* 25:00:00' is not an OnCalendar expression systemd takes"),
])
def test_a_schedule_the_host_cannot_take_is_refused_before_any_change(tmp_path, job, schedule, manager, message):
    if manager == "systemd" and not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is missing here")
    run = run_module({**job, "schedule": schedule, "service_manager": manager}, tmp_path)
    assert run.get("failed") and run["msg"].startswith(message), run
    assert not os.path.exists(job["state_dir"])


@pytest.mark.skipif(shutil.which("cron") is not None, reason="cron is installed here")
def test_a_host_without_cron_is_told_so_and_nothing_changes(tmp_path, job):
    run = run_module({**job, "schedule": "30 3 * * 0", "service_manager": "direct"}, tmp_path)
    assert not run.get("failed") and run["missing_program"] == "cron" and run["changed"] is False, run
    assert not os.path.exists(job["state_dir"])


def test_without_a_schedule_nothing_is_installed_and_nothing_changes(tmp_path, job):
    run = run_module({**job, "schedule": "", "service_manager": "direct"}, tmp_path)
    assert not run.get("failed") and run["changed"] is False and run["scheduler"] == "none", run


def test_the_job_code_imports_on_a_host_without_ansible(tmp_path):
    lib = tmp_path / "lib"
    for relative, source in job_sources().items():
        path = lib / PACKAGE.replace(".", "/") / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    # -S: no site-packages, so neither Ansible nor the collection can come from anywhere but lib.
    probe = (f"import sys; sys.path.insert(0, {str(lib)!r}); from {PACKAGE}._gc_job import main; "
             "import importlib.util; print(importlib.util.find_spec('ansible') is None)")
    run = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stdout + run.stderr


@pytest.mark.parametrize(("options", "message"), [
    ({"retention_rules": [{"repository": "team/[", "keep_newest": 1}], "internal_password": "a-long-internal-password"},
     "retention_rules[0].repository 'team/[' is not a valid glob: the [ at position 5 is never closed"),
    ({"retention_rules": [{"repository": "team/*"}], "internal_password": "a-long-internal-password"},
     "retention_rules[0] keeps nothing: give keep_newest, keep_tags or keep_days"),
    ({"retention_rules": [{"repository": "team/*", "keep_newest": 2}]},
     "internal_password and internal_username are required with retention_rules"),
])
def test_retention_rules_the_job_cannot_use_are_refused_before_any_change(tmp_path, job, options, message):
    run = run_module({**job, "schedule": "30 3 * * 0", "service_manager": "direct", **options}, tmp_path)
    assert run.get("failed") and run["msg"].startswith(message), run
    assert not os.path.exists(job["state_dir"])
