# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the fleet report, one entry per host (the fleet_report callback).

What a run showed of each host (the result of the registry_trust module, the verdicts of the registry_probe module,
the task that failed it) becomes one entry: the container runtimes that trust the registry, the trust mode and the
files through which it is in force, whether the host is logged in, the probe's verdict and remedy, or why the host
failed. :func:`table` renders the entries as a compact table, one line per host; :func:`markdown` and
:func:`dumps` as the files the callback writes. Pure: plain data in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

FORMAT = 1
# Verdicts of the probe (registry_probe's documented status values). Not imported from module_utils/_verdicts, which
# would load cryptography into the controller's main process for four strings.
OK, UNRESOLVED, AUTH_REQUIRED, AUTH_REFUSED = "ok", "unresolved", "auth_required", "auth_refused"
# The runtime a registry_trust result stands for when it does not list its runtimes.
DEFAULT_RUNTIME = "docker"
LOGGED_IN = "logged in"
NOT_RESOLVED = "skipped: not resolved here"
NONE = "-"
COLUMNS = ("HOST", "RESULT", "RUNTIMES", "TRUST", "LOGIN", "PROBE", "REMEDY OR FAILURE")
# Names of failed hosts in the summary line; the table lists them all.
SUMMARY_NAMES = 10


def one_line(text) -> str:
    """``text`` with every run of white space, line breaks included, folded into one space."""
    return " ".join(str(text).split())


def runtimes(trust: Mapping | None) -> dict:
    """Per runtime of a registry_trust result: ``{name: {mode, state, in_force}}``, in the result's order.

    A result that lists its runtimes (``runtimes``: a mapping of name to that runtime's part, or a list of names)
    gives them; each part may carry its own ``mode``, ``state`` and ``in_force``, else the result's apply. A result
    without them is Docker's, its files those of the result's ``in_force``.
    """
    if not isinstance(trust, Mapping):
        return {}
    listed = trust.get("runtimes")
    if isinstance(listed, Mapping) and listed:
        parts = {str(name): part if isinstance(part, Mapping) else {} for name, part in listed.items()}
    elif isinstance(listed, (list, tuple)) and listed:
        parts = {str(name): {} for name in listed}
    else:
        parts = {DEFAULT_RUNTIME: {}}
    found = {}
    for name, part in parts.items():
        files = part.get("in_force")
        if files is None and name == DEFAULT_RUNTIME:
            files = trust.get("in_force")
        found[name] = {"mode": part.get("mode", trust.get("mode")), "state": part.get("state", trust.get("state")),
                       "in_force": [str(path) for path in files or []]}
        if part.get("signatures"):  # whether the runtime refuses unsigned images (registry_signature_policy)
            found[name]["signatures"] = one_line(part["signatures"])
    return found


def signatures_cell(found: Mapping) -> str:
    """``signatures: podman enforced, docker cannot enforce`` where a runtime's signature policy was asked about."""
    said = {name: part["signatures"] for name, part in found.items() if part.get("signatures")}
    if not said or not any(text == "enforced" or text.startswith("not enforceable") for text in said.values()):
        return ""
    words = [f"{name} {'enforced' if text == 'enforced' else 'cannot enforce' if text.startswith('not enforceable') else 'off'}"
             for name, text in said.items()]
    return "signatures: " + ", ".join(words)


def probe_verdict(probes: list | None) -> dict:
    """The verdict over every address probed: ``ok`` when each address the host resolves answers as the daemon
    needs; else the first failing address's status, with its detail and remedy. ``-`` when nothing was probed."""
    if not probes:
        return {"verdict": NONE, "detail": "", "remedy": "", "unresolved": []}
    unresolved = [str(probe.get("registry")) for probe in probes if probe.get("status") == UNRESOLVED]
    failing = [probe for probe in probes if probe.get("status") not in (OK, UNRESOLVED)]
    if failing:
        first = failing[0]
        return {"verdict": str(first.get("status")), "detail": f"{first.get('registry')}: {one_line(first.get('detail') or '')}",
                "remedy": one_line(first.get("remedy") or ""), "unresolved": unresolved}
    if len(unresolved) == len(probes):
        return {"verdict": UNRESOLVED, "detail": f"the host resolves none of {', '.join(unresolved)}",
                "remedy": "Fix its DNS or /etc/hosts, or add a name it resolves to registry_names.",
                "unresolved": unresolved}
    return {"verdict": OK, "detail": "", "remedy": "", "unresolved": unresolved}


def logged_in(trust: Mapping | None, probes: list | None) -> str:
    """``yes``, ``no``, ``<n> of <m>`` addresses, ``logged out``, or ``-`` where the run neither logged in nor knows.

    From the logins of a registry_trust result (addresses the host does not resolve do not count); else from the
    probe: credentials sent and accepted, or the registry asking for them.
    """
    logins = trust.get("logins") if isinstance(trust, Mapping) else None
    if isinstance(logins, Mapping) and logins:
        states = [str(state) for state in logins.values() if state != NOT_RESOLVED]
        done = sum(state == LOGGED_IN for state in states)
        if not states:
            return "no"
        if all(state == "logged out" for state in states):
            return "logged out"
        return "yes" if done == len(states) else "no" if done == 0 else f"{done} of {len(states)}"
    if probes:
        if any(probe.get("status") in (AUTH_REQUIRED, AUTH_REFUSED) for probe in probes):
            return "no"
        if any(probe.get("credentials") and probe.get("status") == OK for probe in probes):
            return "yes"
    return NONE


def login_role(probes: list | None) -> str:
    """The role of the host's login as the registry host's authenticating proxy named it to the probe (``pull``,
    ``push``, ``push team-a/*``), the roles joined where addresses disagree; empty where no probe says."""
    roles = dict.fromkeys(str(probe["login_role"]) for probe in probes or []
                          if isinstance(probe, Mapping) and probe.get("status") == OK and probe.get("login_role"))
    return ", ".join(roles)


def failure_message(result: Mapping) -> str:
    """One line that says why a task failed, from its result as callbacks get it (a censored one stays censored)."""
    if result.get("censored"):
        return one_line(result["censored"])
    items = [item for item in result.get("results") or []
             if isinstance(item, Mapping) and (item.get("failed") or item.get("unreachable"))]
    if items:
        return "; ".join(_item_failure(item) for item in items)
    message = one_line(result.get("msg") or "")
    stderr = [line for line in str(result.get("stderr") or "").splitlines() if line.strip()]
    if stderr and (not message or message == "non-zero return code"):
        message = f"{message}: {one_line(stderr[-1])}" if message else one_line(stderr[-1])
    return message or "failed without a message"


def _item_failure(item: Mapping) -> str:
    """``<item>: <message>`` of a failed loop item; the message alone where it names the item already."""
    message = failure_message(item)
    if item.get("censored"):
        return message
    label = item.get("_ansible_item_label", item.get("item", ""))
    label = one_line(label if isinstance(label, str) else json.dumps(label, sort_keys=True, default=str))
    return message if not label or message.startswith(label) else f"{label}: {message}"


def host_entry(host: str, *, trust: Mapping | None = None, probes: list | None = None, failure: Mapping | None = None,
               changed: bool = False, not_reached: str = "") -> dict:
    """The report's entry for one host.

    ``trust`` is the host's registry_trust result, ``probes`` its per-address probe verdicts (registry_probe's
    results, else those of ``trust``), ``failure`` the task that failed it (``{play, task, message, unreachable}``),
    ``changed`` whether the run changed anything there, ``not_reached`` why neither ran where nothing did.
    """
    if probes is None and isinstance(trust, Mapping) and isinstance(trust.get("probe"), list):
        probes = trust["probe"]
    probes = [probe for probe in probes or [] if isinstance(probe, Mapping) and probe.get("status")]
    # registry_probe connects as the Docker daemon does, and tells nothing of how the host trusts the registry.
    found = runtimes(trust) or ({DEFAULT_RUNTIME: {"mode": None, "state": None, "in_force": []}} if probes else {})
    probe = probe_verdict(probes)
    if failure:
        result = "unreachable" if failure.get("unreachable") else "failed"
        note = f"{failure.get('task')}: {failure.get('message')}"
    elif not found and not probes:
        result, note = "not reached", not_reached
    else:
        result = "changed" if changed else "ok"
        note = probe["remedy"] or probe["detail"]
        if not note and probe["unresolved"]:
            note = f"not resolved here: {', '.join(probe['unresolved'])}"
    fix = result not in ("ok", "changed") or probe["verdict"] not in (OK, NONE)
    return {
        "host": host,
        "result": result,
        "fix": fix,
        "changed": bool(changed),
        "runtimes": found,
        "logged_in": logged_in(trust, probes),
        "login_role": login_role(probes),
        "logins": dict(trust.get("logins") or {}) if isinstance(trust, Mapping) else {},
        "probe": {**probe, "addresses": [{key: address[key] for key in ("registry", "status", "detail", "remedy",
                                                                        "login_role")
                                          if key in address} for address in probes]},
        "failure": dict(failure) if failure else None,
        "note": one_line(note),
    }


def _rank(entry: Mapping) -> tuple:
    """Hosts that pass come first; then those whose probe found a problem, those the run did not reach, and last,
    nearest the summary, those that failed: the causes."""
    rank = 0 if not entry["fix"] else {"not reached": 2, "failed": 3, "unreachable": 3}.get(entry["result"], 1)
    return rank, entry["host"]


def report(entries: list, *, playbooks: list, finished: str, check_mode: bool = False) -> dict:
    """The whole report: the entries in :func:`_rank` order, and a summary."""
    hosts = sorted(entries, key=_rank)
    to_fix = [entry for entry in hosts if entry["fix"]]
    results = {}
    for entry in to_fix:
        kind = entry["result"] if entry["result"] not in ("ok", "changed") else f"probe {entry['probe']['verdict']}"
        results[kind] = results.get(kind, 0) + 1
    return {
        "format": FORMAT,
        "playbooks": list(playbooks),
        "finished": finished,
        "check_mode": bool(check_mode),
        "summary": {"hosts": len(hosts), "ok": len(hosts) - len(to_fix),
                    "changed": sum(entry["changed"] for entry in hosts),
                    "to_fix": [entry["host"] for entry in reversed(to_fix)], "to_fix_by_result": results},
        "hosts": hosts,
    }


def trust_cell(entry: Mapping) -> str:
    """``<mode>, <n> files`` over the entry's runtimes; ``absent`` where the run took the trust away."""
    found = entry["runtimes"]
    if not any(part.get("mode") for part in found.values()):
        return NONE
    if all(part.get("state") == "absent" for part in found.values()):
        return "absent"
    modes = "/".join(dict.fromkeys(str(part.get("mode") or NONE) for part in found.values()))
    count = len({path for part in found.values() for path in part["in_force"]})
    signatures = signatures_cell(found)
    return f"{modes}, {count} file{'' if count == 1 else 's'}" + (f"; {signatures}" if signatures else "")


def cells(entry: Mapping) -> list:
    """The entry's row: one cell per column of :data:`COLUMNS`."""
    logged = entry["logged_in"] + (f" ({entry['login_role']})" if entry.get("login_role") else "")
    return [entry["host"], entry["result"], ",".join(entry["runtimes"]) or NONE, trust_cell(entry), logged,
            entry["probe"]["verdict"], entry["note"]]


def summary_line(report_: Mapping) -> str:
    summary = report_["summary"]
    line = f"{summary['hosts']} host{'' if summary['hosts'] == 1 else 's'}: {summary['ok']} ok"
    if summary["changed"]:
        line += f" ({summary['changed']} changed)"
    to_fix = summary["to_fix"]
    line += f", {len(to_fix)} to fix"
    if to_fix:
        line += f" ({', '.join(f'{count} {kind}' for kind, count in summary['to_fix_by_result'].items())})"
        more = len(to_fix) - SUMMARY_NAMES
        line += ": " + ", ".join(to_fix[:SUMMARY_NAMES]) + (f" and {more} more" if more > 0 else "")
    return line


def table(report_: Mapping) -> list:
    """The report for the terminal: a header line, one line per host in the report's order, the summary line."""
    rows = [list(COLUMNS)] + [cells(entry) for entry in report_["hosts"]]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS) - 1)]
    lines = ["  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]).rstrip() for row in rows]
    return lines + [summary_line(report_)]


def _markdown_cell(text: str) -> str:
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|") or " "


def markdown(report_: Mapping) -> str:
    """The report as a Markdown document: what ran and when, the summary, one table row per host."""
    playbooks = ", ".join(f"`{playbook}`" for playbook in report_["playbooks"]) or "ansible-playbook"
    mode = " (check mode)" if report_["check_mode"] else ""
    lines = ["# Fleet report", "", f"{playbooks}{mode}, finished {report_['finished']}. {summary_line(report_)}.", "",
             "| host | result | runtimes | trust | files in force | logged in | probe | remedy or failure |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for entry in report_["hosts"]:
        files = "<br>".join(f"`{path}`" for path in dict.fromkeys(
            path for part in entry["runtimes"].values() for path in part["in_force"])) or NONE
        row = [_markdown_cell(cell) for cell in cells(entry)]
        lines.append("| " + " | ".join(row[:4] + [files] + row[4:]) + " |")
    return "\n".join(lines) + "\n"


def dumps(report_: Mapping) -> str:
    return json.dumps(report_, indent=2) + "\n"
