# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for schedules: checking one before anything changes."""

from __future__ import annotations

from ansible_collections.dockyard.registry.plugins.module_utils._schedule import ScheduleError, parse


def schedule_problems(schedule, systemd=None) -> list[str]:
    """Why ``schedule`` cannot be used (an empty one can: it means none); ``systemd`` (true or false, where known)
    says whether a systemd timer or cron runs it."""
    if schedule is None or (isinstance(schedule, str) and not schedule.strip()):
        return []
    try:
        parsed = parse(schedule)
    except ScheduleError as exc:
        return [str(exc)]
    if systemd is not None and not systemd and parsed.cron is None:
        return [(f"{parsed.text!r} is an OnCalendar expression, which only a systemd timer takes, and systemd is not "
                 "the service manager of this host: give cron's five fields, such as '30 3 * * 0'")]
    if systemd and parsed.calendar is None:
        return [f"{parsed.text!r}: {parsed.calendar_error}"]
    return []


class FilterModule:
    """Schedules."""

    def filters(self):
        return {"schedule_problems": schedule_problems}
