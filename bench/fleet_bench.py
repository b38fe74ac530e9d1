"""``make bench``: ``playbooks/trust.yml`` on N hosts over ``docker exec``: the CPU a re-run costs per host, and how
its time grows with N (``bench/fleet_ssh_bench.py`` measures three hosts over SSH).

Hosts: containers ``dockyard-bench-fleet-<i>`` of ``dockyard/molecule-docker-host-libraries`` (Debian with its
``docker.io`` and the Python libraries the collection's modules import; ``tests/images/build.py``) that run a plain
``sleep`` (no dockerd: CA mode needs none), on the default bridge network, reached with ``community.docker.docker``
(``docker exec``) as molecule reaches its hosts. The 16 containers start once; each run's inventory lists the first
N, with ``-f N`` and ``registry_trust_serial=N`` (one batch).

The registry is one of the bench's own, never the site's: a container of the local registry image
(``dockyard-bench-fleet-registry``) on this machine's address and a port of 5300-5349, with TLS from a CA made here
and the inventory's account in an htpasswd file the collection's own filter writes (bcrypt, the cost
``registry_server`` uses). Its certificate names ``registry.fleet.test``, which no host resolves, and this machine's
address, as the local inventory's names ``dockyard-local`` and the address: so each host gets two certs.d entries, and
its probe and login go to the one address it resolves. The inventory's registry host itself is never contacted
(``trust.yml`` reads the registry's addresses from its certificate on the controller).

Each round takes, for each size in turn, a cold run (``/etc/docker/certs.d`` and ``/root/.docker`` removed in every
container first; every host must report a change) and a re-run (every host changed=0). For each run: its wall time;
the CPU of the controller (the ``ansible-playbook`` process tree, the ``docker`` CLI processes of its connections
included: ``getrusage`` of its waited-for children) and of the hosts (each container's cgroup, before and after);
for information, what the ``docker exec`` transport costs on the Docker side (the containers' shims with runc,
less the modules' processes, which the shims reap and the cgroups count already; dockerd and containerd) and the
registry container's cgroup. The figure of the target is (controller + hosts) / N of
a re-run. After the rounds, one more re-run per size samples the memory of the whole ``ansible-playbook`` tree and
counts the ``docker exec`` calls (not timed), and re-runs with ``profile_tasks`` at the smallest and largest size
tell where the time goes. The containers and the registry go at the end, also on error. Results:
``bench/output/fleet.json`` and the ``fleet`` section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / ".collections"))

from _bench import (
    OUTPUT,
    PLAYBOOK,
    Timings,
    bench_port,
    cgroup_cpu,
    load_text,
    loads,
    measured,
    process_cpu,
    recaps,
    run,
    save_results,
    slowest_tasks,
    spread,
    wait_for_load,
    wait_for_quiet,
    write_section,
)
from scratch_registry import CA, REGISTRY_IMAGE, ScratchRegistry

from ansible_collections.dockyard.registry.plugins.module_utils._htpasswd import htpasswd_content
from support import default_ipv4

TRUST_YML = ROOT / "playbooks" / "trust.yml"
IMAGE = "dockyard/molecule-docker-host-libraries:latest"
PREFIX = "dockyard-bench-fleet-"
REGISTRY_CONTAINER = f"{PREFIX}registry"
LABEL = "dockyard.bench=fleet"
SIZES = (2, 4, 8, 16)
TARGETS = {"cpu_per_host": 0.6, "ratio": 2.0}
REGISTRY_HOST = "fleet-registry"
REGISTRY_DNS = "registry.fleet.test"
ACCOUNT = "dockyard"
BCRYPT_COST = 10  # registry_server_bcrypt_cost's default
CERTS_D = "/etc/docker/certs.d"
DOCKER_CONFIG_DIR = "/root/.docker"


def role_version() -> dict:
    """Which trust role and modules were measured: the checkout's commit, whether they differ from it, a digest."""
    parts = [ROOT / "roles" / "registry_trust", ROOT / "plugins"]
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted(file for file in part.rglob("*") if file.is_file() and "__pycache__" not in file.parts):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--", *map(str, parts)], cwd=ROOT, capture_output=True,
                             text=True, check=False).stdout.strip()
    return {"commit": commit, "uncommitted_changes": bool(changed), "digest": digest.hexdigest()[:12]}


def env(**extra: str) -> dict:
    environment = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **extra}
    environment.pop("REQUESTS_CA_BUNDLE", None)
    return environment


class Fleet:
    """The bench's containers: started once, ``sleep`` as their only process, removed by ``remove``."""

    def __init__(self, count: int) -> None:
        self.names = [f"{PREFIX}{number}" for number in range(1, count + 1)]
        self.ids: dict[str, str] = {}
        self.daemons: list[int] = []
        self.shims: dict[str, int] = {}

    def start(self) -> None:
        self.remove_leftovers(self.names)
        for name in self.names:
            self.ids[name] = run(["docker", "run", "-d", "--name", name, "--hostname", name, "--label", LABEL,
                                  IMAGE, "sleep", "infinity"]).stdout.strip()
        self.find_processes()

    @staticmethod
    def remove_leftovers(names: list[str]) -> None:
        """Containers of an interrupted run of this bench (its label); a same-named container of anyone else stops it."""
        ours = set(run(["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={LABEL}"]).stdout.split())
        for name in names:
            found = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True,
                                   check=False)
            if found.returncode == 0:
                if found.stdout.strip() not in ours:
                    raise RuntimeError(f"a container named {name} exists and is not this bench's: not touching it")
                run(["docker", "rm", "-f", "-v", name])

    def remove(self) -> None:
        """Only the containers this run started."""
        for cid in self.ids.values():
            subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True, check=False)

    def each(self, names: list[str], command: list[str]) -> list[subprocess.CompletedProcess]:
        """``docker exec`` in each container at once."""
        processes = [subprocess.Popen(["docker", "exec", name, *command], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for name in names]
        results = []
        for name, process in zip(names, processes):
            stdout, stderr = process.communicate()
            if process.returncode:
                raise RuntimeError(f"docker exec {name} {' '.join(command)}: {stderr}")
            results.append(subprocess.CompletedProcess(command, 0, stdout, stderr))
        return results

    def reset(self, names: list[str]) -> None:
        self.each(names, ["rm", "-rf", CERTS_D, DOCKER_CONFIG_DIR])

    def cpu(self, names: list[str]) -> dict[str, float]:
        """CPU seconds so far of the containers' own processes (their cgroups: the modules' Python, the shells), of
        their shims with what these waited for (runc), and of dockerd and containerd (which serve any other user of
        the daemon as well)."""
        return {"hosts": sum(cgroup_cpu(self.ids[name]) for name in names),
                "shims": process_cpu([self.shims[name] for name in names]), "daemons": process_cpu(self.daemons)}

    def find_processes(self) -> None:
        """The pids of dockerd, containerd and each container's shim (its command line names the container's id)."""
        self.daemons, self.shims = [], {}
        by_id = {cid: name for name, cid in self.ids.items()}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            program = Path(command[0].decode(errors="replace")).name
            if program in ("dockerd", "containerd"):
                self.daemons.append(int(entry.name))
            elif program.startswith("containerd-shim"):
                for argument in command:
                    if argument.decode(errors="replace") in by_id:
                        self.shims[by_id[argument.decode()]] = int(entry.name)
        missing = set(self.names) - set(self.shims)
        if missing or len(self.daemons) < 2:
            raise RuntimeError(f"did not find dockerd, containerd and the shims of {sorted(missing)}")


class Setup:
    """The registry of the bench (a CA, a certificate, an account) and an inventory for each size."""

    def __init__(self, work: Path, ip: str, port: int, fleet: Fleet) -> None:
        self.work, self.ip, self.port = work, ip, port
        self.password = secrets.token_urlsafe(24)
        self.addresses = [f"{REGISTRY_DNS}:{port}", f"{ip}:{port}"]
        self.ca = CA("dockyard fleet bench CA")
        self.certificate = self.ca.issue([REGISTRY_DNS, ip])
        pki = work / "pki"
        (pki / "servers").mkdir(parents=True)
        (pki / "ca.crt").write_bytes(self.ca.pem)
        (pki / "servers" / f"{REGISTRY_HOST}.crt").write_bytes(self.certificate.pem)
        for size in range(1, len(fleet.names) + 1):
            inventory = {"all": {
                "hosts": {"localhost": {"ansible_connection": "local",
                                        "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
                "vars": {"registry_pki_dir": str(pki), "registry_port": port,
                         "registry_users": [{"name": ACCOUNT, "password": self.password, "role": "pull"}]},
                "children": {
                    # Never contacted: an address that leads nowhere makes sure of it (the recap would list it).
                    "registry": {"hosts": {REGISTRY_HOST: {"ansible_host": "192.0.2.254"}}},
                    "docker_hosts": {
                        "hosts": {f"fleet-{number}": {"ansible_host": name}
                                  for number, name in enumerate(fleet.names[:size], start=1)},
                        "vars": {"ansible_connection": "community.docker.docker",
                                 "ansible_python_interpreter": "/usr/bin/python3"}}}}}
            (work / f"hosts-{size}.json").write_text(json.dumps(inventory, indent=1))

    def registry(self) -> ScratchRegistry:
        htpasswd = htpasswd_content([{"name": ACCOUNT, "password": self.password}], secrets.token_hex(32), BCRYPT_COST)
        return ScratchRegistry(REGISTRY_CONTAINER, self.ip, self.port, self.work, certificate=self.certificate,
                               htpasswd=htpasswd)


def trust(work: Path, size: int, *, sample_memory: bool = False, **extra_env: str):
    """One run of trust.yml on the first ``size`` hosts, in one batch of ``size`` forks."""
    return measured([str(PLAYBOOK), "-i", str(work / f"hosts-{size}.json"), str(TRUST_YML), "-f", str(size),
                     "-e", f"registry_trust_serial={size}"], sample_memory=sample_memory, cwd=ROOT,
                    env=env(**extra_env))


def check(result, size: int, cold: bool) -> dict:
    """Every one of the N hosts ok, changed > 0 on a cold run and 0 on a re-run; the registry host untouched."""
    done = result.done
    hosts = recaps(done.stdout)
    expected = {f"fleet-{number}" for number in range(1, size + 1)}
    problems = []
    if done.returncode:
        problems.append(f"exit status {done.returncode}")
    if set(hosts) != expected:
        problems.append(f"recap lists {sorted(hosts)}, expected {sorted(expected)}")
    for host, figures in hosts.items():
        if figures["unreachable"] or figures["failed"] or not figures["ok"]:
            problems.append(f"{host}: {figures}")
        if cold and not figures["changed"]:
            problems.append(f"{host} changed nothing on a cold run: {figures}")
        if not cold and figures["changed"]:
            problems.append(f"{host} changed something on a re-run: {figures}")
    if problems:
        raise RuntimeError(f"trust.yml, {size} hosts, {'cold' if cold else 're-run'}: {'; '.join(problems)}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return hosts[min(expected)]


def check_files(fleet: Fleet, names: list[str], setup: Setup) -> None:
    """The CA, byte for byte, in each certs.d entry of the first and last host, and the login at the address they
    resolve (the only one the probe could reach)."""
    paths = [f"{CERTS_D}/{address}/ca.crt" for address in setup.addresses]
    for result in fleet.each([names[0], names[-1]], ["cat", *paths]):
        if result.stdout != setup.ca.pem.decode() * len(paths):
            raise RuntimeError("a host's certs.d does not hold the bench's CA after a cold run")
    for result in fleet.each([names[0], names[-1]], ["cat", f"{DOCKER_CONFIG_DIR}/config.json"]):
        if sorted(json.loads(result.stdout).get("auths", {})) != [f"{setup.ip}:{setup.port}"]:
            raise RuntimeError(f"a host's Docker login is not the one expected: {result.stdout}")


class ExecCounter:
    """``docker exec`` calls per container, from ``docker events`` while a run lasts (not for timed runs)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(["docker", "events", "--format", "{{.Actor.Attributes.name}}",
                                         "--filter", "event=exec_start", "--filter", f"label={LABEL}"],
                                        stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)

    def stop(self) -> dict[str, int]:
        time.sleep(0.5)
        self.process.terminate()
        stdout = self.process.communicate()[0]
        counts: dict[str, int] = {}
        for name in stdout.split():
            counts[name] = counts.get(name, 0) + 1
        return counts


CPU_KEYS = ("controller", "hosts", "own", "shims", "daemons", "registry", "machine", "other")


def timed_run(work: Path, fleet: Fleet, registry_id: str, size: int, setup: Setup, *, cold: bool, max_other: float,
              noise: dict) -> dict:
    """A checked run, cold (certs.d and the login removed first) or not, with where its CPU went.

    Other work on the machine (what no process of the run accounts for) skews a run it overlaps: a run in which
    it used more than ``max_other`` of the machine's CPUs is taken again, twice at most, each after waiting for
    a quiet second, and the least disturbed of the three is kept; ``noise`` counts the runs taken again and
    those kept all the same.
    """
    names = fleet.names[:size]
    tries = []
    for attempt in range(3):
        if cold:
            fleet.reset(names)
        wait_for_quiet()
        before, registry_before = fleet.cpu(names), cgroup_cpu(registry_id)
        result = trust(work, size)
        after, registry_after = fleet.cpu(names), cgroup_cpu(registry_id)
        changed = check(result, size, cold=cold)["changed"]
        if cold:
            check_files(fleet, names, setup)
        figures = {"seconds": result.wall, "controller": result.cpu, "machine": result.machine_cpu,
                   **{key: after[key] - before[key] for key in ("shims", "hosts", "daemons")},
                   "registry": registry_after - registry_before, "rss": result.max_rss_kib, "changed": changed}
        figures["own"] = figures["controller"] + figures["hosts"]
        # The shims' figure includes what they waited for; the hosts' processes are in the cgroup figure.
        figures["other"] = (result.machine_cpu - result.cpu - figures["shims"] - figures["daemons"]
                            - figures["registry"])
        figures["other_share"] = figures["other"] / (result.wall * (os.cpu_count() or 1))
        if figures["other_share"] <= max_other:
            return figures
        tries.append(figures)
        if attempt < 2:
            noise["repeated"] += 1
            print(f"  ({size} hosts: other work used {figures['other']:.1f} CPU-s during the run: taking it again)",
                  flush=True)
    noise["kept"] += 1
    return min(tries, key=lambda figures: figures["other_share"])


def summary(runs: list[dict]) -> dict:
    return {"seconds": Timings([run_["seconds"] for run_ in runs]).as_dict(),
            "cpu": {key: round(statistics.median(run_[key] for run_ in runs), 3) for key in CPU_KEYS},
            "changed_per_host": runs[-1]["changed"], "max_rss_kib": max(run_["rss"] for run_ in runs)}


def measure(options, work: Path, fleet: Fleet, setup: Setup, registry_id: str) -> dict:
    sizes = options.sizes
    small, large = min(sizes), max(sizes)
    colds = {size: [] for size in sizes}
    reruns = {size: [] for size in sizes}
    noise = {"repeated": 0, "kept": 0, "max_other": options.max_other}
    timed = functools.partial(timed_run, work, fleet, registry_id, setup=setup, max_other=options.max_other,
                              noise=noise)
    for number in range(options.rounds):
        for size in sizes:
            cold = timed(size, cold=True)
            again = timed(size, cold=False)
            colds[size].append(cold)
            reruns[size].append(again)
            print(f"round {number + 1}, {size:2} hosts: cold {cold['seconds']:.2f} s; re-run {again['seconds']:.2f} s, "
                  f"CPU-s controller {again['controller']:.2f}, hosts {again['hosts']:.2f} "
                  f"({again['own'] / size:.2f} a host), transport {transport_cpu(again):.2f}, "
                  f"registry {again['registry']:.2f}, other {again['other']:.2f}", flush=True)
    results = {"sizes": {}, "noise": noise}
    for size in sizes:
        figures = {"cold": summary(colds[size]), "rerun": summary(reruns[size])}
        wait_for_quiet()
        counter = ExecCounter()
        sampled = trust(work, size, sample_memory=True)
        execs = counter.stop()
        check(sampled, size, cold=False)
        figures["tree"] = {"peak_pss_kib": sampled.tree.peak_pss_kib, "peak_rss_kib": sampled.tree.peak_rss_kib,
                           "peak_processes": sampled.tree.peak_processes, "seconds": round(sampled.wall, 3)}
        figures["execs_per_host"] = round(statistics.mean(execs.get(name, 0) for name in fleet.names[:size]), 1)
        results["sizes"][str(size)] = figures
        print(f"{size:2} hosts: tree peak PSS {sampled.tree.peak_pss_kib / 1024:.0f} MiB, "
              f"{figures['execs_per_host']:g} docker exec a host", flush=True)
    results["profile"] = {}
    for size in (small, large):
        wait_for_quiet()
        profiled = trust(work, size, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                         PROFILE_TASKS_TASK_OUTPUT_LIMIT="100")
        check(profiled, size, cold=False)
        tasks = slowest_tasks(profiled.done.stdout, 100)
        results["profile"][str(size)] = {"seconds": round(profiled.wall, 3), "tasks": tasks,
                                         "tasks_total": round(sum(s for _n, s in tasks), 3)}
    results["host_costs"] = host_costs(fleet)
    return results


# What a host's Python costs before the module does anything: the interpreter, and the libraries the trust module
# imports (the Docker SDK through _docker_client, cryptography through the probe's certificate checks).
IMPORTS = {"python_start": "pass", "docker_sdk": "import docker, docker.auth, docker.errors, docker.utils.config",
           "cryptography": "import cryptography.x509, cryptography.hazmat.primitives.serialization"}


def host_costs(fleet: Fleet, repeat: int = 5) -> dict:
    """CPU seconds (the container's cgroup) of ``python3 -c <code>`` on one host, for each entry of IMPORTS: the
    least of ``repeat`` tries (the imports above the interpreter's start are the difference)."""
    name = fleet.names[0]
    costs = {}
    for key, code in IMPORTS.items():
        tries = []
        for _try in range(repeat):
            before = cgroup_cpu(fleet.ids[name])
            run(["docker", "exec", name, "python3", "-c", code])
            tries.append(cgroup_cpu(fleet.ids[name]) - before)
        costs[key] = round(min(tries), 3)
    return costs


def report(results: dict) -> str:
    info, sizes = results["machine"], results["sizes"]
    small, large = min(sizes, key=int), max(sizes, key=int)
    noise, role = results["noise"], results["role"]
    load = results["load"]
    lines = [
        "## `trust.yml` re-run on N hosts over `docker exec`: CPU per host, and time(16) / time(2)",
        "",
        (f"Generated by `make bench` (`bench/fleet_bench.py`) on {results['when']}; raw figures in "
         f"`bench/output/fleet.json` (not committed). Machine: {info['cpus']} CPUs ({info['cpu']}), "
         f"{info['memory_gib']} GiB, Docker {info['docker']}, Python {info['python']}; load average when the "
         f"measurements began {load_text(load)}, at the end {loads(info['load_average'])}. "
         "Hosts: containers of `dockyard/molecule-docker-host-libraries` on this machine running only `sleep` (no "
         "dockerd), reached with `community.docker.docker` (`docker exec`) as molecule reaches its hosts, so their "
         "module runs share this machine's CPUs with the controller. Registry: the bench's own (a container of the "
         f"local registry image on port {results['registry']['port']}, TLS from a CA made for the run, the account's "
         f"bcrypt hash at cost {BCRYPT_COST}); its certificate names `{REGISTRY_DNS}` (no host resolves it) and this "
         "machine's address, so each host gets two certs.d entries and probes and logs in at one address, as on the "
         "local inventory. Measured: `roles/registry_trust` and `plugins/` of the checkout at "
         f"{role['commit']}{' with uncommitted changes' if role['uncommitted_changes'] else ''} (digest "
         f"{role['digest']}). `trust.yml` in CA mode with `-f N` and `registry_trust_serial=N` (one batch). Cold: "
         "`/etc/docker/certs.d` and `/root/.docker` removed in every host first (changed="
         f"{sizes[small]['cold']['changed_per_host']} a host); re-run: changed=0 on every host. Median (min–max) of "
         f"{results['rounds']} rounds, the sizes in turn within each round. Each run starts after a quiet second (or "
         f"20 s of waiting); a run in which other work used more than {noise['max_other']:.0%} of the CPUs was taken "
         f"again (twice at most): {noise['repeated']} runs were, {noise['kept']} kept all the same after a third try."),
        "",
        ("| hosts N | re-run, s | re-run CPU-s: controller + hosts = sum (a host) | transport (runc, shims, dockerd, "
         "containerd), CPU-s | registry, CPU-s | cold run, s | `docker exec` a host (re-run) "
         "| controller peak RSS, largest process / whole tree (PSS) |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size, data in sorted(sizes.items(), key=lambda item: int(item[0])):
        cpu = data["rerun"]["cpu"]
        lines.append(
            f"| {size} | {spread(data['rerun']['seconds'])} | {cpu['controller']:.2f} + {cpu['hosts']:.2f} = "
            f"{cpu['own']:.2f} ({cpu['own'] / int(size):.2f}) | {transport_cpu(cpu):.2f} "
            f"| {cpu['registry']:.2f} | {spread(data['cold']['seconds'])} | {data['execs_per_host']:g} "
            f"| {max(data['rerun']['max_rss_kib'], data['cold']['max_rss_kib']) / 1024:.0f} MiB / "
            f"{data['tree']['peak_pss_kib'] / 1024:.0f} MiB ({data['tree']['peak_processes']} processes) |")
    lines += ["", "| measure | figure | target | met |", "| --- | --- | --- | --- |"]
    for size in sorted({small, large}, key=int):
        per_host = cpu_per_host(sizes[size])
        lines.append(f"| `trust.yml` re-run, CPU-seconds a host (controller + host processes), N = {size} "
                     f"| {per_host:.2f} | <= {TARGETS['cpu_per_host']} "
                     f"| {'yes' if per_host <= TARGETS['cpu_per_host'] else 'NO'} |")
    ratio = rerun_ratio(results)
    lines.append(f"| `trust.yml` re-run, time({large}) / time({small}), forks = N | {ratio:.2f} "
                 f"| <= {TARGETS['ratio']:g} | {'yes' if ratio <= TARGETS['ratio'] else 'NO'} |")
    cold_ratio = sizes[large]["cold"]["seconds"]["median"] / sizes[small]["cold"]["seconds"]["median"]
    lines.append(f"| cold run, time({large}) / time({small}), for information | {cold_ratio:.2f} | | |")
    lines += [
        "",
        ("Controller: user + system seconds of the `ansible-playbook` tree (its forks and the `docker` CLI processes "
         "of their connections). Hosts: the containers' cgroups (the modules' Python processes that `docker exec` "
         "starts there). Transport: the containers' shims with what they waited for (runc), less the hosts' "
         "processes (a process that `docker exec` starts is its shim's child, so the shim's figure counts it again), "
         "and dockerd and containerd, which serve `docker exec` (and whatever else uses the daemon meanwhile): on real hosts over "
         "ssh this would be sshd's share on the host; not in the target's figure. Registry: its container's cgroup "
         "(TLS and the bcrypt check of every login), not in the target's figure either. Largest process: "
         "`/usr/bin/time -f %M` over the timed runs. Whole tree: the peak of the summed PSS of the `ansible-playbook` "
         "tree, sampled every 0.1 s in one more re-run per size (not timed), in which the `docker exec` calls were "
         "also counted from `docker events`."),
    ]
    lines += profile_section(results)
    lines += findings(results)
    return "\n".join(lines) + "\n"


def transport_cpu(cpu: dict) -> float:
    """What ``docker exec`` costs on the Docker side: dockerd and containerd, and the shims with what they waited for
    (runc), less the hosts' own processes, which the shims reap too (a process ``docker exec`` starts is the shim's
    child) and the containers' cgroups count already."""
    return cpu["shims"] - cpu["hosts"] + cpu["daemons"]


def cpu_per_host(data: dict) -> float:
    """The target's figure: CPU seconds of the controller and the hosts during a re-run, over the number of hosts."""
    return data["rerun"]["cpu"]["own"] / data["hosts"] if "hosts" in data else 0.0


def rerun_ratio(results: dict) -> float:
    sizes = results["sizes"]
    small, large = min(sizes, key=int), max(sizes, key=int)
    return sizes[large]["rerun"]["seconds"]["median"] / sizes[small]["rerun"]["seconds"]["median"]


def profile_section(results: dict) -> list[str]:
    profile = results["profile"]
    small, large = min(profile, key=int), max(profile, key=int)
    by_name = dict(profile[small]["tasks"])
    text = [
        "",
        (f"### Tasks of a re-run (`ansible.posix.profile_tasks`; {large} hosts: the run took "
         f"{profile[large]['seconds']:.1f} s, its tasks {profile[large]['tasks_total']:.1f} s; {small} hosts: "
         f"{profile[small]['seconds']:.1f} s and {profile[small]['tasks_total']:.1f} s)"),
        "",
        f"| task | {large} hosts, s | {small} hosts, s |",
        "| --- | --- | --- |",
    ]
    for name, seconds in profile[large]["tasks"][:8]:
        text.append(f"| {name.replace('|', '/')} | {seconds:.2f} | {by_name.get(name, float('nan')):.2f} |")
    return text


def findings(results: dict) -> list[str]:
    """What bounds the figures, from the figures themselves."""
    info, sizes = results["machine"], results["sizes"]
    small, large = min(sizes, key=int), max(sizes, key=int)
    added = int(large) - int(small)
    cpus = info["cpus"]
    low, high = sizes[small]["rerun"], sizes[large]["rerun"]
    t_small, t_large = low["seconds"]["median"], high["seconds"]["median"]
    per_host = {key: (high["cpu"][key] - low["cpu"][key]) / added for key in ("controller", "hosts", "own")}
    fixed = low["cpu"]["own"] - per_host["own"] * int(small)
    transport = (transport_cpu(high["cpu"]) - transport_cpu(low["cpu"])) / added
    execs = sizes[large]["execs_per_host"]
    everything = high["cpu"]["own"] + transport_cpu(high["cpu"]) + high["cpu"]["registry"]
    busy = high["cpu"]["machine"] / (t_large * cpus)
    floor = everything / cpus
    budget = TARGETS["ratio"] * t_small
    costs = results["host_costs"]
    text = [
        "",
        "### What bounds them",
        "",
        (f"CPU: each host added to a re-run costs {per_host['own']:.2f} CPU-s of the target's processes "
         f"({per_host['controller']:.2f} in the controller tree, {per_host['hosts']:.2f} in the host's own "
         f"processes), and {transport:.2f} more on the Docker side for its {execs:g} `docker exec` call(s); about "
         f"{fixed:.2f} CPU-s a run do not depend on N (`ansible-playbook`'s start, the inventory, the role's "
         "checks on the controller, the registry's addresses read from its certificate). So the figure a host falls "
         f"from {cpu_per_host(sizes[small]):.2f} at {small} hosts towards {per_host['own']:.2f} as N grows. A host's "
         f"own share ({low['cpu']['hosts'] / int(small):.2f} CPU-s at {small} hosts) is one Python process: in these "
         f"containers the interpreter's start alone costs {costs['python_start']:.2f} CPU-s, importing the Docker SDK "
         f"on top of it {costs['docker_sdk'] - costs['python_start']:.2f} and cryptography's x509 "
         f"{costs['cryptography'] - costs['python_start']:.2f} (`python3 -c`, the least of 5); the rest is Ansible's "
         "module wrapper and the module's own work (reading certs.d and the Docker client configuration, asking for "
         "the daemon, one verified TLS connection with the login to the registry)."),
        "",
        (f"Time: at {large} hosts everything the re-run makes the machine do (the target's processes, the "
         f"transport, the registry) is {everything:.1f} CPU-s, at least {floor:.1f} s on {cpus} CPUs, and the "
         f"machine was {busy:.0%} busy over the run's {t_large:.2f} s. "
         + (f"The run is CPU-bound: the target allows {TARGETS['ratio']:g} x {t_small:.2f} s = {budget:.1f} s, "
            + ("which is less than that floor: no choice of forks or strategy can meet it on this machine while a "
               "host costs what it does, the hosts being containers whose work shares the controller's two CPUs. "
               if floor > budget else "and the floor fits in it. ")
            if busy >= 0.8 and floor > 0.7 * t_large else
            f"The run is not CPU-bound: the {t_large - floor:.1f} s beyond that floor is waiting, for processes to "
            "start and for the task barrier of the linear strategy (each task waits for its slowest host). ")
         + "On real hosts over ssh only the controller tree's share would stay on the controller."),
    ]
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=lambda text: sorted({int(size) for size in text.split(",")}),
                        default=list(SIZES), help="comma-separated numbers of hosts (default: 2,4,8,16)")
    parser.add_argument("--max-other", type=float, default=0.1,
                        help="take a run again when other work used more than this share of the CPUs during it")
    parser.add_argument("--report-only", action="store_true",
                        help="write the fleet section of bench/RESULTS.md again from bench/output/fleet.json")
    options = parser.parse_args()
    results_file = OUTPUT / "fleet.json"
    if options.report_only:
        print(write_section("fleet", report(json.loads(results_file.read_text()))))
        return 0
    if len(options.sizes) < 2 or options.sizes[0] < 1 or options.rounds < 1:
        parser.error("--sizes needs at least two numbers of hosts, each 1 or more; --rounds at least 1")
    for image, how in ((IMAGE, "run .venv/bin/python tests/images/build.py"), (REGISTRY_IMAGE, "make site builds it")):
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode:
            print(f"bench: the image {image} is missing: {how}", file=sys.stderr)
            return 2
    # A SIGTERM (make interrupted, a timeout) unwinds through the finally below, so the containers go.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(143))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    ip = default_ipv4()
    fleet = Fleet(max(options.sizes))
    Fleet.remove_leftovers([REGISTRY_CONTAINER])
    results = {"rounds": options.rounds, "role": role_version()}
    try:
        fleet.start()
        with tempfile.TemporaryDirectory(prefix="fleet-", dir=OUTPUT) as work:
            setup = Setup(Path(work), ip, bench_port(ip), fleet)
            with setup.registry() as registry:
                results["registry"] = {"port": setup.port, "addresses": setup.addresses}
                results["load"] = wait_for_load()
                results.update(measure(options, Path(work), fleet, setup, registry.container.id))
    finally:
        fleet.remove()
    for size, data in results["sizes"].items():
        data["hosts"] = int(size)
    save_results("fleet", results_file, results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
