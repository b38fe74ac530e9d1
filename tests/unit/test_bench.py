"""bench/_bench.py: the pure helpers the benchmarks read their figures with, and compare deployments with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _bench

OUTPUT = """\
TASK [dockyard.registry.registry_pki : Check the role's variables] *************
Sunday 29 November 2026  23:20:01 +0000 (0:00:00.040)       0:00:01.100 *******
skipping: [dockyard-local]

TASK [dockyard.registry.registry_server : Write the registry's files] **********
Sunday 29 November 2026  23:20:02 +0000 (0:00:00.500)       0:00:01.600 *******
ok: [dockyard-local]

TASK [Push the smoke image to the registry] ************************************
Sunday 29 November 2026  23:20:03 +0000 (0:00:00.700)       0:00:02.300 *******
changed: [dockyard-local]

PLAY RECAP *********************************************************************
dockyard-local             : ok=12   changed=1    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
fleet-2                    : ok=4    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0

Sunday 29 November 2026  23:20:04 +0000 (0:00:00.900)       0:00:03.200 *******
===============================================================================
Push the smoke image to the registry ------------------------------------ 0.90s
dockyard.registry.registry_server : Write the registry's files ---------- 0.70s
dockyard.registry.registry_pki : Check the role's variables ------------- 0.50s
"""


def test_recaps_reads_every_host_of_the_play_recap():
    assert _bench.recaps(OUTPUT) == {
        "dockyard-local": {"ok": 12, "changed": 1, "unreachable": 0, "failed": 0, "skipped": 3},
        "fleet-2": {"ok": 4, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 1},
    }


def test_slowest_tasks_reads_the_profile_summary_slowest_first():
    assert _bench.slowest_tasks(OUTPUT, 2) == [
        ("Push the smoke image to the registry", 0.9),
        ("dockyard.registry.registry_server : Write the registry's files", 0.7),
    ]


def test_module_tasks_counts_the_tasks_that_ran_not_the_skipped():
    assert _bench.module_tasks(OUTPUT) == 2


def test_differences_names_each_differing_path_and_nothing_else():
    ours = {"container": {"ReadonlyRootfs": True, "CapDrop": ["ALL"], "PidsLimit": 256}, "files": {"etc": "0755 0:0"}}
    theirs = {"container": {"ReadonlyRootfs": False, "CapDrop": ["ALL"]}, "files": {"etc": "0755 0:0"}}
    assert _bench.differences(ours, theirs) == [
        "container.PidsLimit: 256 != None",
        "container.ReadonlyRootfs: True != False",
    ]
    assert _bench.differences(ours, ours) == []


@pytest.mark.parametrize(("load", "words"), [
    ({"load": (1.2, 2.0, 3.0), "limit": 1.5, "quiet": True, "waited": 0},
     "1.20, 2.00, 3.00 (1-minute figure at most 1.5)"),
    ({"load": (1.4, 2.0, 3.0), "limit": 1.5, "quiet": True, "waited": 240},
     "1.40, 2.00, 3.00 (1-minute figure at most 1.5, after 240 s of waiting)"),
    ({"load": (4.1, 4.0, 3.0), "limit": 1.5, "quiet": False, "waited": 600},
     "4.10, 4.00, 3.00 (1-minute figure still above 1.5 after 600 s of waiting: measured all the same)"),
])
def test_load_text_says_whether_the_machine_was_quiet(load, words):
    assert _bench.load_text(load) == words


def test_wait_for_load_returns_at_once_on_a_quiet_machine(monkeypatch):
    monkeypatch.setattr(_bench.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    expected = {"load": (0.5, 0.5, 0.5), "limit": 1.5, "quiet": True, "waited": 0}
    assert _bench.wait_for_load(limit=1.5, timeout=0) == expected


def test_wait_for_load_gives_up_after_its_timeout_and_says_so(monkeypatch):
    monkeypatch.setattr(_bench.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    result = _bench.wait_for_load(limit=1.5, timeout=0)
    assert (result["quiet"], result["load"]) == (False, (3.0, 3.0, 3.0))


def test_write_section_replaces_its_own_section_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(_bench, "RESULTS", tmp_path / "RESULTS.md")
    _bench.write_section("site", "first")
    _bench.write_section("fleet", "fleet figures")
    _bench.write_section("site", "second")
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith(_bench.RESULTS_TITLE)
    assert "second" in text and "first" not in text and "fleet figures" in text
    assert text.index("BEGIN site") < text.index("BEGIN fleet")
