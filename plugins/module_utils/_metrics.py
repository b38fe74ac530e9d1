# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what the collection knows, in Prometheus's text format.

The files are for the textfile collector of Prometheus's node_exporter (``*.prom`` in its
``--collector.textfile.directory``), which reads the text exposition format, version 0.0.4: a ``# HELP`` and a
``# TYPE`` line, then one sample line for each set of labels. :func:`exposition` renders gauges in it;
:func:`parse_samples` reads the samples of such a file back, so that a run can keep a value an earlier run wrote.
"""

from __future__ import annotations

import math
import re

from ansible_collections.dockyard.registry.plugins.module_utils._validity import not_after

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+-?\d+)?$")


class MetricError(ValueError):
    """A metric that the exposition format cannot carry."""


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(labels.items())) + "}"


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return "1" if value.strip().lower() == "true" else "0"
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise MetricError(f"{value!r} is not a finite number")
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def exposition(metrics: list[dict]) -> str:
    """The text of ``metrics``, each ``{name, help, value, labels}`` (a gauge), grouped by name in the given order."""
    groups: dict[str, list[dict]] = {}
    helps: dict[str, str] = {}
    for metric in metrics:
        name = metric["name"]
        if not NAME.match(name):
            raise MetricError(f"{name!r} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        for label in metric.get("labels") or {}:
            if not LABEL.match(label) or label.startswith("__"):
                raise MetricError(f"{name}: {label!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*)")
        groups.setdefault(name, []).append(metric)
        helps.setdefault(name, " ".join(str(metric.get("help") or name).split()))
    lines = []
    for name, samples in groups.items():
        lines.append(f"# HELP {name} {helps[name].replace(chr(92), chr(92) * 2)}")
        lines.append(f"# TYPE {name} gauge")
        seen = set()
        for sample in samples:
            labels = _labels(sample.get("labels") or {})
            if labels in seen:
                raise MetricError(f"{name}{labels} is given twice")
            seen.add(labels)
            try:
                lines.append(f"{name}{labels} {_number(sample['value'])}")
            except (TypeError, ValueError) as exc:
                raise MetricError(f"{name}{labels}: {exc}") from None
    return "".join(line + "\n" for line in lines)


def parse_samples(text: str) -> dict[str, str]:
    """The samples of an exposition text: ``name{labels}`` (as written) to its value, comments left out."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and not line.lstrip().startswith("#"):
            samples[match.group(1) + (match.group(2) or "")] = match.group(3)
    return samples


def sample_key(metric: dict) -> str:
    return metric["name"] + _labels(metric.get("labels") or {})


def expiry(certificate) -> int:
    """A certificate's notAfter as a Unix timestamp (whole seconds)."""
    return int(not_after(certificate).timestamp())


# The record of the last garbage collection (<container>-gc.prom), which the gc entry point and the scheduled runs
# write, and the shipped alerts read.
GC_RECORD = (
    ("dockyard_registry_gc_last_run_timestamp_seconds", "When the last garbage collection ended, as a Unix timestamp."),
    ("dockyard_registry_gc_last_run_success", "Whether the last garbage collection succeeded (1) or failed (0)."),
    ("dockyard_registry_gc_last_success_timestamp_seconds",
     "When the last garbage collection that succeeded ended, as a Unix timestamp."),
    ("dockyard_registry_gc_deleted_blobs", "How many blobs the last garbage collection deleted."),
    ("dockyard_registry_gc_deleted_manifests", "How many manifests the last garbage collection deleted."),
    ("dockyard_registry_gc_freed_bytes",
     "The bytes the blobs that the last garbage collection deleted took (filesystem storage only)."),
)


def gc_record(ended: float, success: bool, deleted_blobs: int, deleted_manifests: int, freed_bytes) -> list[dict]:
    """The metrics of a garbage collection that ended at ``ended`` (a Unix time). ``freed_bytes`` None: unknown (an
    object store), which keeps the value an earlier run wrote; a failed run keeps the time of the last success."""
    values = (int(ended), bool(success), int(ended) if success else None, int(deleted_blobs), int(deleted_manifests),
              None if freed_bytes is None or freed_bytes == "" else int(freed_bytes))
    return [{"name": name, "help": text, "value": value} for (name, text), value in zip(GC_RECORD, values)]


# What the retention rules of a scheduled run (registry_server_retention_rules) did before it collected, written into
# the same record, beside the collection's figures.
RETENTION_RECORD = (
    ("dockyard_registry_retention_last_run_success",
     "Whether the retention rules of the last scheduled garbage collection were applied (1) or failed (0)."),
    ("dockyard_registry_retention_deleted_manifests",
     "How many manifests the retention rules of the last scheduled garbage collection deleted before it collected."),
)


def retention_record(success: bool, deleted_manifests: int) -> list[dict]:
    """The metrics of the retention step of a scheduled run: whether it succeeded, and how many manifests it deleted."""
    values = (bool(success), int(deleted_manifests))
    return [{"name": name, "help": text, "value": value} for (name, text), value in zip(RETENTION_RECORD, values)]


def render(metrics: list[dict], labels: dict, current: str) -> str:
    """The file's text for ``metrics`` (each with ``labels`` added); a value of None or "" keeps the value ``current``
    (the file's text now) holds for the same sample, or leaves the sample out where it holds none."""
    previous = parse_samples(current)
    kept = []
    for metric in metrics:
        metric = {**metric, "labels": {**labels, **(metric.get("labels") or {})}}
        if metric.get("value") is None or metric.get("value") == "":
            value = previous.get(sample_key(metric))
            if value is None:
                continue
            metric["value"] = value
        kept.append(metric)
    return exposition(kept)
