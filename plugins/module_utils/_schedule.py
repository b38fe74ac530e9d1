# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a schedule, as cron's syntax or systemd's OnCalendar expression.

:func:`parse` reads what a user wrote: cron's five fields (``30 3 * * 0``) or one of its nicknames (``@daily``),
which both a crontab and (converted) a systemd timer can take; anything else is taken as an OnCalendar expression
(``Sun *-*-* 03:30:00``), which only a systemd timer can take. The messages say what is wrong, for the caller to
name its variable or option in front of them.
"""

from __future__ import annotations

import dataclasses
import re

# Cron's fields: name, lowest, highest, and the names it also takes.
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
# Cron's nicknames, by the fields they stand for (systemd's "weekly" is Monday, cron's @weekly Sunday).
_NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_ITEM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")
# What an OnCalendar expression is made of (systemd.time(7)); systemd-analyze calendar checks the rest on the host.
_CALENDAR = re.compile(r"^[A-Za-z0-9*:,./~+ -]+$")


class ScheduleError(ValueError):
    """A schedule that neither cron nor a systemd timer can take."""


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A schedule: ``cron`` holds its five fields where it is cron's syntax, ``calendar`` its OnCalendar expression
    (converted from cron's where it is), and ``text`` what was written. ``calendar_error`` says why cron's syntax
    has no OnCalendar equivalent, where it has none."""

    text: str
    cron: str | None
    calendar: str | None
    calendar_error: str | None = None


def parse(text: str) -> Schedule:
    """The schedule ``text`` says; :class:`ScheduleError` where it is neither cron's syntax nor an OnCalendar one."""
    if not isinstance(text, str):
        raise ScheduleError(f"{text!r} is not a string: give cron's five fields, such as '30 3 * * 0', or a systemd "
                            "OnCalendar expression, such as 'Sun *-*-* 03:30:00'")
    if any(ord(char) < 0x20 and char not in " \t" or ord(char) == 0x7F for char in text):
        raise ScheduleError(f"{text!r} holds a line break or another control character: give one line")
    text = " ".join(text.split())
    if not text:
        raise ScheduleError("the schedule is empty")
    if text.startswith("@") and text.lower() not in _NICKNAMES:
        raise ScheduleError(f"{text!r} is not one of cron's nicknames ({', '.join(sorted(_NICKNAMES))})")
    fields = _NICKNAMES.get(text.lower(), text).split(" ")
    if len(fields) == 5 and all(re.match(r"^[0-9*a-zA-Z,/-]+$", field) for field in fields) \
            and any(re.match(r"^[0-9*]", field) for field in fields):
        items = [_cron_field(field.lower(), *spec) for field, spec in zip(fields, _FIELDS)]
        cron = " ".join(field.lower() for field in fields)
        try:
            return Schedule(text, cron, _calendar(items, fields))
        except ScheduleError as exc:
            return Schedule(text, cron, None, str(exc))
    if not _CALENDAR.match(text) or not re.search(r"[0-9*]|\b[a-z]+ly\b|minutely", text, re.IGNORECASE):
        raise ScheduleError(f"{text!r} is neither cron's five fields (minute hour day-of-month month day-of-week, "
                            "such as '30 3 * * 0') nor a systemd OnCalendar expression (such as 'Sun *-*-* 03:30:00')")
    return Schedule(text, None, text)


def _cron_field(field: str, name: str, low: int, high: int, names: tuple) -> list[tuple]:
    """The items of one cron field as (first, last, step) with None for ``*``; ScheduleError naming the field."""
    items = []
    for item in field.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ScheduleError(f"the {name} field {field!r} is not cron's syntax (a number, a range a-b, '*', "
                                "a list of them separated by ',', each optionally with a step /n)")
        star, first, last, step = match.groups()
        values = [_value(value, name, low, high, names) for value in (first, last) if value is not None]
        if len(values) == 2 and values[0] > values[1]:
            raise ScheduleError(f"the {name} field {field!r} has the range {item!r}, whose start is after its end")
        if step is not None and int(step) == 0:
            raise ScheduleError(f"the {name} field {field!r} has a step of 0")
        if star:
            items.append((None, None, int(step) if step else None))
        else:
            items.append((values[0], values[-1] if last is not None else None, int(step) if step else None))
    return items


def _value(value: str, name: str, low: int, high: int, names: tuple) -> int:
    if value in names:
        return names.index(value) + (1 if name == "month" else 0)
    if not value.isdigit() or not low <= int(value) <= high:
        words = f" or {names[0]}..{names[-1]}" if names else ""
        raise ScheduleError(f"the {name} field holds {value!r}, which is not from {low} to {high}{words}")
    return int(value)


def _calendar(items: list[list[tuple]], fields: list[str]) -> str:
    """The OnCalendar expression of cron's fields (as :func:`_cron_field` parsed them)."""
    minute, hour, day, month, weekday = items
    if fields[2] != "*" and fields[4] != "*":
        # Cron runs on either day; a timer would run only on days that are both.
        raise ScheduleError("cron runs a schedule that restricts both the day of month and the day of week on either "
                            "day, which a systemd timer cannot say: give an OnCalendar expression instead")
    days = "" if fields[4] == "*" else ",".join(_weekdays(item) for item in weekday) + " "
    parts = [_systemd_field(field, low) for field, (_name, low, _high, _names) in zip((month, day, hour, minute),
                                                                                      (_FIELDS[3], _FIELDS[2],
                                                                                       _FIELDS[1], _FIELDS[0]))]
    return f"{days}*-{parts[0]}-{parts[1]} {parts[2]}:{parts[3]}:00"


def _systemd_field(items: list[tuple], low: int) -> str:
    rendered = []
    for first, last, step in items:
        if first is None:
            rendered.append(f"{low}/{step}" if step else "*")
        elif step:
            rendered.append(",".join(str(value) for value in range(first, last + 1, step)) if last is not None
                            else f"{first}/{step}")
        elif last is not None:
            rendered.append(f"{first}..{last}")
        else:
            rendered.append(str(first))
    return ",".join(rendered)


def _weekdays(item: tuple) -> str:
    """A day-of-week item as systemd's day names, listed one by one (systemd's weeks start on Monday, cron's on
    Sunday, so a range is not carried over as one); 7 is Sunday too."""
    first, last, step = item
    names = [day.capitalize() for day in _DAYS] + ["Sun"]
    if first is None:
        first, last = 0, 6
    values = range(first, (last if last is not None else (6 if step else first)) + 1, step or 1)
    return ",".join(dict.fromkeys(names[value] for value in values))
