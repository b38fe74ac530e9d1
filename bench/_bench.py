"""What every ``make bench`` script shares: running and timing programs, the figures of a measurement, the machine."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path


@dataclasses.dataclass
class Timings:
    """Seconds of each round of one measurement."""

    rounds: list[float] = dataclasses.field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.rounds)

    @property
    def worst(self) -> float:
        return max(self.rounds)

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    def as_dict(self) -> dict:
        return {"best": round(self.best, 4), "median": round(self.median, 4), "worst": round(self.worst, 4),
                "rounds": [round(r, 4) for r in self.rounds]}


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def timed(args: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall-clock and CPU (user and system) seconds of one program, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = run(args, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> dict:
    def version(args):
        try:
            return run(args).stdout.strip().splitlines()[0]
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    memory_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:")), 0)
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": round(memory_kib / (1 << 20), 1),
            "load_average": os.getloadavg(), "python": platform.python_version(),
            "openssl": version(["openssl", "version"]), "skopeo": version(["skopeo", "--version"]),
            "docker": version(["docker", "version", "--format", "{{.Server.Version}}"])}


def loads(values) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def spread(timing: dict) -> str:
    """``median (min–max)`` of a timing as ``Timings.as_dict`` gives it, in seconds."""
    return f"{timing['median']:.2f} ({timing['best']:.2f}–{timing['worst']:.2f})"


RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_TITLE = "# Benchmarks (`make bench`)\n\nEach section is written by its own script; do not edit by hand.\n"


def write_section(name: str, text: str) -> str:
    """Put ``text`` between the markers of section ``name`` of bench/RESULTS.md, keeping every other section."""
    begin, end = f"<!-- BEGIN {name} -->\n", f"<!-- END {name} -->\n"
    current = RESULTS.read_text() if RESULTS.exists() else ""
    if not current.startswith(RESULTS_TITLE):
        current = RESULTS_TITLE
    block = f"{begin}{text.rstrip()}\n{end}"
    if begin in current and end in current:
        current = current[:current.index(begin)] + block + current[current.index(end) + len(end):]
    else:
        current = f"{current.rstrip()}\n\n{block}"
    RESULTS.write_text(current)
    return block
