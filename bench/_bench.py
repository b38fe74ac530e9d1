"""What every ``make bench`` script shares: running and timing programs, the figures of a measurement, the machine."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


@dataclasses.dataclass
class Measured:
    """One program run by ``measured``: its wall and CPU seconds, its memory, the machine's CPU meanwhile."""

    done: subprocess.CompletedProcess
    wall: float
    cpu: float  # user + system seconds of the program and all its descendants
    machine_cpu: float  # busy seconds of every CPU of the machine meanwhile (any process, /proc/stat)
    max_rss_kib: int  # largest resident set of any one process of the tree (``/usr/bin/time -f %M``)
    tree: TreeMemory | None = None  # the tree's sampled memory, when asked for


def measured(args: list[str], *, sample_memory: bool = False, **kwargs) -> Measured:
    """Run ``args`` (not checked: look at ``done.returncode``) under ``/usr/bin/time -f %M``.

    With ``sample_memory``, a thread also sums the memory of the whole process tree every 0.1 s (``TreeMemory``):
    it costs CPU of its own, so leave it off for the runs whose time counts.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        before, busy_before = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy()
        started = time.perf_counter()
        process = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", report.name, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, **kwargs)
        tree = TreeMemory(process.pid) if sample_memory else None
        if tree:
            tree.start()
        try:
            stdout, stderr = process.communicate()
        finally:
            if tree:
                tree.stop()
        wall = time.perf_counter() - started
        after, busy_after = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy()
        rss = int(report.read().split()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    return Measured(done, wall, cpu, busy_after - busy_before, rss, tree)


def machine_busy() -> float:
    """Seconds every CPU of the machine has spent busy since boot (all but idle and iowait, ``/proc/stat``)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit: float = 0.25, window: float = 1.0, timeout: float = 20.0) -> float:
    """Wait, at most ``timeout`` seconds, for a ``window`` in which the machine's CPUs were less than ``limit`` busy
    (a share of all of them); return the busy share of the last window. Other work on a shared machine skews the
    rounds that it overlaps: this keeps a round from starting in the middle of it."""
    deadline = time.monotonic() + timeout
    while True:
        before = machine_busy()
        time.sleep(window)
        share = (machine_busy() - before) / (window * (os.cpu_count() or 1))
        if share < limit or time.monotonic() >= deadline:
            return share


def wait_for_load(limit: float | None = None, timeout: float | None = None, poll: float = 60.0) -> dict:
    """Before a script's measurements: wait, at most ``timeout`` seconds, until the 1-minute load average is at most
    ``limit`` (``BENCH_MAX_LOAD``, default 1.5; ``BENCH_LOAD_WAIT`` seconds, default 600), and say what it was.

    The load average says how many processes wanted a CPU lately: on a 2-core machine shared with other work, figures
    taken above it measure that work as much as ours. Returns the load when the wait ended and whether it was low
    enough; the results record both.
    """
    limit = float(os.environ.get("BENCH_MAX_LOAD", "1.5")) if limit is None else limit
    timeout = float(os.environ.get("BENCH_LOAD_WAIT", "600")) if timeout is None else timeout
    started = time.monotonic()
    while True:
        load = os.getloadavg()
        waited = time.monotonic() - started
        if load[0] <= limit or waited >= timeout:
            quiet = load[0] <= limit
            if not quiet:
                print(f"bench: the load average is still {loads(load)} after {waited:.0f} s: measuring all the same",
                      file=sys.stderr, flush=True)
            return {"load": load, "limit": limit, "quiet": quiet, "waited": round(waited)}
        print(f"bench: load average {loads(load)}, above {limit:g}: waiting ({waited:.0f} s of {timeout:.0f})",
              file=sys.stderr, flush=True)
        time.sleep(min(poll, max(1.0, timeout - waited)))


def load_text(load: dict) -> str:
    """The load average ``wait_for_load`` returned, in words for bench/RESULTS.md."""
    if load["quiet"]:
        waited = f", after {load['waited']} s of waiting" if load["waited"] else ""
        return f"{loads(load['load'])} (1-minute figure at most {load['limit']:g}{waited})"
    return (f"{loads(load['load'])} (1-minute figure still above {load['limit']:g} after {load['waited']} s of waiting: "
            "measured all the same)")


BENCH_PORTS = range(5300, 5350)
CERTS_D = Path("/etc/docker/certs.d")


def bench_port(ip: str, taken: set[int] = frozenset()) -> int:
    """The first port of the bench's range (5300-5349) that nothing binds or publishes and no certs.d entry names."""
    published = set(taken)
    for line in run(["docker", "ps", "--format", "{{.Ports}}"]).stdout.splitlines():
        published.update(int(port) for port in re.findall(r":(\d+)->", line))
    for port in BENCH_PORTS:
        if port in published or (CERTS_D.is_dir() and any(CERTS_D.glob(f"*:{port}"))):
            continue
        with socket.socket() as probe:
            try:
                probe.bind((ip, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {BENCH_PORTS.start}-{BENCH_PORTS.stop - 1}")


def cgroup_cpu(container_id: str) -> float:
    """CPU seconds so far of every process of a container (its cgroup, v1 ``cpuacct.usage`` or v2 ``cpu.stat``).

    Processes that ``docker exec`` starts join the container's cgroup, so this counts them too."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat"),
               Path(f"/sys/fs/cgroup/docker/{container_id}/cpu.stat")):
        if v2.exists():
            return int(v2.read_text().split("usage_usec", 1)[1].split()[0]) / 1e6
    raise RuntimeError(f"no cgroup CPU accounting found for container {container_id[:12]}")


def process_cpu(pids: list[int]) -> float:
    """User and system seconds of these processes and of the children they have waited for (``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        total += sum(int(field) for field in stat[stat.rindex(")") + 2:].split()[11:15])
    return total / os.sysconf("SC_CLK_TCK")


class TreeMemory(threading.Thread):
    """The peak, over samples every ``interval`` seconds, of the summed memory of a process and its descendants.

    PSS (``/proc/<pid>/smaps_rollup``) shares each page among the processes that map it, so the forks of one
    parent are not counted once each for the pages they share; RSS sums count them so. Processes that live
    less than an interval can be missed.
    """

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_pss_kib = self.peak_rss_kib = self.peak_processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            pss = rss = 0
            pids = self.descendants()
            for pid in pids:
                pss += self._field(f"/proc/{pid}/smaps_rollup", "Pss:")
                rss += self._field(f"/proc/{pid}/status", "VmRSS:")
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self.peak_processes = max(self.peak_processes, len(pids))

    def stop(self) -> None:
        self._done.set()
        self.join()

    def descendants(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry.name))
        found, pending = [], [self.root]
        while pending:
            pid = pending.pop()
            found.append(pid)
            pending += children.get(pid, [])
        return found

    @staticmethod
    def _field(path: str, name: str) -> int:
        try:
            with open(path) as handle:
                return next((int(line.split()[1]) for line in handle if line.startswith(name)), 0)
        except OSError:
            return 0


RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)",
                   re.MULTILINE)
PROFILE_LINE = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$")
TASK_LINE = re.compile(r"^TASK \[(.+?)\] \*+$", re.MULTILINE)


def recaps(output: str) -> dict[str, dict[str, int]]:
    """Each host's figures in the PLAY RECAP of ``ansible-playbook``'s output."""
    names = ("ok", "changed", "unreachable", "failed", "skipped")
    return {match[0]: dict(zip(names, map(int, match[1:]))) for match in RECAP.findall(output)}


def slowest_tasks(output: str, count: int = 10) -> list[tuple[str, float]]:
    """The ``profile_tasks`` summary (the lines after the last PLAY RECAP), slowest first."""
    summary = output[output.rfind("PLAY RECAP"):]
    tasks = [(match.group(1).strip(), float(match.group(2)))
             for match in map(PROFILE_LINE.match, summary.splitlines()) if match]
    return sorted(tasks, key=lambda task: -task[1])[:count]


def module_tasks(output: str) -> int:
    """How many tasks of a run's output reported ok or changed on a host (what ran, skipped ones left out)."""
    count = 0
    for block in TASK_LINE.split(output)[2::2]:
        if re.search(r"^(ok|changed): \[", block, re.MULTILINE):
            count += 1
    return count


def differences(ours, theirs, where: str = "") -> list[str]:
    """Where two ``Deployment.state`` values differ, as ``path: ours != theirs``."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs), key=str):
            found += differences(ours.get(key), theirs.get(key), f"{where}.{key}" if where else str(key))
        return found
    return [] if ours == theirs else [f"{where}: {ours!r} != {theirs!r}"]


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


ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "bench" / "output"  # each script's raw figures and working files (not committed)
PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
RESULTS = ROOT / "bench" / "RESULTS.md"
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


def save_results(name: str, path: Path, results: dict, report) -> None:
    """Stamp ``results`` with the date and the machine, keep them in ``path`` (JSON) and write their section."""
    results.update(when=now(), machine=machine())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(write_section(name, report(results)))
