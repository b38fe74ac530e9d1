"""Schedules as users write them: cron's fields and nicknames (for cron, and converted for a systemd timer), and
systemd's OnCalendar expressions; every converted expression is read back by systemd's own parser
(``systemd-analyze calendar``, which needs no running systemd)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.dockyard.registry.plugins.filter.schedule import schedule_problems
from ansible_collections.dockyard.registry.plugins.module_utils._schedule import ScheduleError, parse

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def normalized(calendar: str) -> str:
    """systemd's normalized form of an OnCalendar expression (fails the test where systemd refuses it)."""
    run = subprocess.run([SYSTEMD_ANALYZE, "calendar", calendar], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return next(line.split(":", 1)[1].strip() for line in run.stdout.splitlines()
                if line.strip().startswith("Normalized form:"))


@pytest.mark.parametrize(("text", "cron", "systemd"), [
    ("* * * * *", "* * * * *", "*-*-* *:*:00"),
    ("30 3 * * 0", "30 3 * * 0", "Sun *-*-* 03:30:00"),
    ("*/5 * * * *", "*/5 * * * *", "*-*-* *:00/5:00"),
    ("0 2 * * 1-5", "0 2 * * 1-5", "Mon..Fri *-*-* 02:00:00"),
    ("0 1-10/3 * * 5-7", "0 1-10/3 * * 5-7", "Fri..Sun *-*-* 01,04,07,10:00:00"),
    ("15 4 1 jan,Jul *", "15 4 1 jan,jul *", "*-01,07-01 04:15:00"),
    ("@weekly", "0 0 * * 0", "Sun *-*-* 00:00:00"),
    ("  0   4 * *  sun ", "0 4 * * sun", "Sun *-*-* 04:00:00"),
])
def test_cron_syntax_runs_under_cron_and_means_the_same_to_systemd(text, cron, systemd):
    schedule = parse(text)
    assert schedule.cron == cron
    assert normalized(schedule.calendar) == systemd


def test_an_oncalendar_expression_is_for_a_systemd_timer_only():
    schedule = parse("Sun *-*-* 03:30:00")
    assert (schedule.cron, schedule.calendar) == (None, "Sun *-*-* 03:30:00")
    assert schedule_problems("Sun *-*-* 03:30:00", systemd=True) == []
    assert "only a systemd timer takes" in schedule_problems("Sun *-*-* 03:30:00", systemd=False)[0]


def test_either_day_of_cron_is_refused_for_a_timer_only():
    schedule = parse("0 4 1 * 1")
    assert schedule.cron == "0 4 1 * 1" and schedule.calendar is None
    assert schedule_problems("0 4 1 * 1", systemd=False) == []
    assert "give an OnCalendar expression instead" in schedule_problems("0 4 1 * 1", systemd=True)[0]


@pytest.mark.parametrize(("text", "message"), [
    ("61 * * * *", "the minute field holds '61', which is not from 0 to 59"),
    ("0 0 0 * *", "the day of month field holds '0', which is not from 1 to 31"),
    ("0 0 * 13 *", "the month field holds '13', which is not from 1 to 12 or jan..dec"),
    ("0 5-2 * * *", "the hour field '5-2' has the range '5-2', whose start is after its end"),
    ("*/0 * * * *", "the minute field '*/0' has a step of 0"),
    ("@often", "'@often' is not one of cron's nicknames"),
    ("rm -rf /; true", "is neither cron's five fields"),
    ("0 3 * * 0\n* * * * * root sh", "holds a line break or another control character"),
    ("", "the schedule is empty"),
])
def test_a_schedule_neither_scheduler_takes_is_refused_saying_why(text, message):
    with pytest.raises(ScheduleError) as refused:
        parse(text)
    assert message in str(refused.value)


def test_the_filter_finds_no_problem_in_an_empty_schedule_and_names_others():
    assert schedule_problems("") == [] and schedule_problems(None) == []
    assert schedule_problems("61 * * * *") == ["the minute field holds '61', which is not from 0 to 59"]
    assert schedule_problems(5)[0].startswith("5 is not a string")
