"""``make bench``: ``site.yml`` and ``trust.yml`` re-runs on three Debian hosts reached over SSH, each against a
playbook of one ``ping`` task on the same hosts, and the controller's CPU per host of a ``trust.yml`` re-run (what
one host more adds: the run on the three hosts against the run on one).

Hosts: three molecule Docker hosts (each with its own dockerd), made as every molecule scenario makes its hosts
(``molecule/resources/create.yml`` and ``docker_host.yml``), of Debian 12 and 13 (``fleet-1`` Debian 12, the registry
host and a Docker host; ``fleet-2`` Debian 13; ``fleet-3`` Debian 12), at fixed addresses on a network of the bench's
own (``dockyard-bench-fleet-ssh``, 172.31.57.0/24), in containers ``dockyard-bench-fleet-ssh-<n>``. The controller
reaches them as the molecule scenario ``runtimes`` reaches its hosts (``molecule/resources/ssh.yml``): over SSH with a
key made for the run, as the user ``dockyard`` who becomes root with sudo, host keys checked against a known_hosts
scanned for the run, pipelining on (``ansible.cfg``), and the connection options Ansible gives ``ssh`` by default
(``ControlMaster=auto``, ``ControlPersist=60s``: a user re-running a playbook within a minute reuses the connections,
and so does each run here; the masters' sockets are in the run's own directory).

The same three hosts are then reached with ``community.docker.docker`` (``docker exec``, the same user and sudo; only
the connection differs) for the same measurements, for information: molecule and ``bench/fleet_bench.py`` reach
their hosts so.

Each transport: ``site.yml`` converges the fleet first (timed for information, not a target), then each round runs, in
turn, ``bench/ping.yml`` (the baseline), a ``site.yml`` re-run, a ``trust.yml`` re-run and a ``trust.yml`` re-run on
``fleet-3`` alone, then two floors of ``trust.yml``, each on the three hosts and on ``fleet-3`` alone, for
information: ``bench/trust_module.yml`` (the ``registry_trust`` role's module call alone) and ``bench/trust_role.yml``
(the role in one play: the argument-spec check, the variable checks, the module call and the two tasks skipped there,
without the play that sorts the hosts into batches). Each run must report ``changed=0`` on every host it runs on. The
figures are ratios of medians against the baseline measured in the same rounds; controller CPU is the user + system
seconds of the ``ansible-playbook`` tree (``getrusage(RUSAGE_CHILDREN)``, the ``ssh`` or ``docker`` clients of its
connections included) plus, over SSH, what the connection masters (which outlive the run that started them) used
during the run; per host, it is what the run on the three hosts takes more than the run on ``fleet-3`` alone, over the
two hosts between them (the start-up of ``ansible-playbook`` and the packing of each module are paid once a run).
Results: ``bench/output/fleet-ssh.json`` and the ``fleet-ssh`` section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from _bench import (
    OUTPUT,
    PLAYBOOK,
    Timings,
    load_text,
    loads,
    measured,
    process_cpu,
    recaps,
    run,
    save_results,
    spread,
    wait_for_load,
    wait_for_quiet,
    write_section,
)

PLAYBOOKS = {"site": ROOT / "playbooks" / "site.yml", "trust": ROOT / "playbooks" / "trust.yml",
             "ping": ROOT / "bench" / "ping.yml",
             "trust_module": ROOT / "bench" / "trust_module.yml", "trust_role": ROOT / "bench" / "trust_role.yml"}
# Two floors of trust.yml, for information: what each of their playbooks runs.
FLOORS = {"trust_module": ("the role's module call alone", "`bench/trust_module.yml`"),
          "trust_role": ("the role in one play", ("`bench/trust_role.yml`: Ansible's argument-spec check, the "
                                                  "variable checks, the module call, and the two tasks skipped "
                                                  "here; no batching play"))}
# The trust.yml re-run on one host (--limit), against which the three hosts' run gives the controller's CPU a host;
# the floors' likewise. A run named <playbook>_one is that playbook's run on ONE_HOST alone.
ONE_HOST = "fleet-3"
PER_HOST = ("trust", *FLOORS)
RUNS = ("ping", "site", *(f"{name}{suffix}" for name in PER_HOST for suffix in ("", "_one")))
RESOURCES = ROOT / "molecule" / "resources"
REGISTRY_ARCHIVE = ROOT / ".cache" / "molecule" / "registry-image.tar"
SCENARIO = "bench-fleet-ssh"  # the label create.yml puts on the containers and the network
NETWORK = "dockyard-bench-fleet-ssh"
SUBNET = "172.31.57.0/24"
BOOKWORM = "dockyard/molecule-docker-host:latest"
TRIXIE = "dockyard/molecule-docker-host-trixie:latest"
HOSTS = {  # inventory name: (image, Debian release, address)
    "fleet-1": (BOOKWORM, "12", "172.31.57.10"),
    "fleet-2": (TRIXIE, "13", "172.31.57.11"),
    "fleet-3": (BOOKWORM, "12", "172.31.57.12"),
}
USER = "dockyard"
TRANSPORTS = {"ssh": "SSH", "docker": "`docker exec`"}
# Issue 23's targets, over SSH: ratios against the ping playbook, and controller CPU-seconds per host (what one host
# more adds to a trust.yml re-run: the run on every host against the run on ONE_HOST, over the hosts between them).
TARGETS = {"site": 5.0, "trust": 2.0, "trust_cpu_per_host": 0.25}


def container(host: str) -> str:
    return f"dockyard-bench-fleet-ssh-{host.rsplit('-', 1)[1]}"


def connection(transport: str, ssh_dir: Path) -> dict:
    """How the controller reaches the hosts: only the connection differs between the two transports."""
    common = {"ansible_user": USER, "ansible_become": True, "ansible_python_interpreter": "/usr/bin/python3"}
    if transport == "docker":
        # ansible_host stays the address (the registry's certificate names it); docker exec goes by the container.
        return {**common, "ansible_connection": "community.docker.docker",
                "ansible_docker_host": "{{ dockyard_molecule_container }}"}
    return {**common, "ansible_connection": "ssh", "ansible_ssh_private_key_file": str(ssh_dir / "id_ed25519"),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh_dir / 'known_hosts'} -o StrictHostKeyChecking=yes"}


class Fleet:
    """The run's directory (inventories, SSH key, PKI, credentials, control sockets) and its three hosts."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.ssh_dir = work / "ssh"
        self.control_dir = work / "cp"
        self.control_dir.mkdir(parents=True)
        (work / "inventory").mkdir()
        self.platforms = [{"name": host, "image": image,
                           "networks": [{"name": NETWORK, "subnet": SUBNET, "ipv4_address": address}]}
                          for host, (image, _release, address) in HOSTS.items()]
        for transport in TRANSPORTS:
            self.inventory(transport).write_text(json.dumps(self.hosts(transport), indent=1))

    def inventory(self, transport: str) -> Path:
        return self.work / "inventory" / f"hosts-{transport}.json"

    def hosts(self, transport: str) -> dict:
        password = ("{{ lookup('ansible.builtin.password', (inventory_dir | dirname) ~ '/credentials/%s', "
                    "chars=['ascii_letters', 'digits'], length=%d) }}")
        return {"all": {
            "vars": {
                "dockyard_molecule_ssh_user": USER, "dockyard_molecule_ssh_dir": str(self.ssh_dir),
                "registry_pki_dir": str(self.work / "pki"),
                "registry_pki_ca_passphrase": password % ("ca-passphrase", 40),
                "registry_image_source": "archive", "registry_image_archive": str(REGISTRY_ARCHIVE),
                "registry_users": [{"name": "fleet", "role": "pull", "password": password % ("fleet", 24)},
                                   {"name": "ci", "role": "push", "password": password % ("ci", 24)}],
            },
            "children": {
                "registry": {"hosts": {"fleet-1": {}}},
                "docker_hosts": {
                    "hosts": {host: {"ansible_host": address, "dockyard_molecule_container": container(host)}
                              for host, (_image, _release, address) in HOSTS.items()},
                    "vars": {"docker_engine_manage": True, **connection(transport, self.ssh_dir)}}}}}

    def env(self, **extra: str) -> dict:
        environment = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                       "MOLECULE_SCENARIO_NAME": SCENARIO, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
                       **extra}
        environment.pop("REQUESTS_CA_BUNDLE", None)
        return environment

    def playbook(self, playbook: Path, transport: str = "ssh", *extra: str, hosts: tuple = tuple(HOSTS)):
        """One measured ``ansible-playbook`` run on the fleet; it must succeed on every one of ``hosts``."""
        masters_before = self.masters_cpu()
        result = measured([str(PLAYBOOK), "-i", str(self.inventory(transport)), str(playbook), *extra], cwd=ROOT,
                          env=self.env())
        masters = max(0.0, self.masters_cpu() - masters_before)
        recap = recaps(result.done.stdout)
        problems = [f"exit status {result.done.returncode}"] if result.done.returncode else []
        if set(recap) != set(hosts):
            problems.append(f"the recap lists {sorted(recap)}")
        problems += [f"{host}: {figures}" for host, figures in recap.items()
                     if figures["failed"] or figures["unreachable"]]
        if problems:
            raise RuntimeError(f"{playbook.name} over {transport}: {'; '.join(problems)}\n"
                               f"{result.done.stdout[-4000:]}\n{result.done.stderr[-2000:]}")
        return result, masters, {host: recap[host] for host in hosts if host in recap}

    def masters_cpu(self) -> float:
        """CPU seconds so far of the SSH connection masters of this run (their title names the control socket)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    command = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if command.startswith(b"ssh: ") and str(self.control_dir).encode() in command:
                    pids.append(int(entry.name))
        return process_cpu(pids)

    def create(self) -> None:
        """The hosts (molecule's create step), the controller let in over SSH, and every dockerd answering."""
        platforms = json.dumps({"molecule_yml": {"platforms": self.platforms}})
        for step in ("create.yml", "ssh.yml", "prepare.yml"):
            done = subprocess.run([str(PLAYBOOK), "-i", str(self.inventory("ssh")), str(RESOURCES / step),
                                   "-e", platforms], cwd=ROOT, env=self.env(), capture_output=True, text=True,
                                  check=False)
            if done.returncode:
                raise RuntimeError(f"molecule/resources/{step} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")

    def destroy(self) -> None:
        """The containers and the network (molecule's destroy step); the connection masters go with their hosts."""
        platforms = json.dumps({"molecule_yml": {"platforms": self.platforms}})
        subprocess.run([str(PLAYBOOK), "-i", str(self.inventory("ssh")), str(RESOURCES / "destroy.yml"),
                        "-e", platforms], cwd=ROOT, env=self.env(), capture_output=True, check=False)


def ssh_options(fleet: Fleet) -> dict:
    """The ssh connection's settings in effect for the runs (``ansible-config dump``, with the runs' environment)."""
    done = run([str(PLAYBOOK.with_name("ansible-config")), "dump", "--format", "json", "-t", "connection"], cwd=ROOT,
               env=fleet.env())
    settings = next((plugin["ssh"] for plugin in json.loads(done.stdout) if "ssh" in plugin), [])
    return {setting["name"]: setting["value"] for setting in settings
            if setting["name"] in ("pipelining", "ssh_args", "control_path_dir")}


def measure(fleet: Fleet, transport: str, rounds: int) -> dict:
    """A converge, then ``rounds`` rounds of the ping playbook, a site.yml re-run, a trust.yml re-run and a trust.yml
    re-run on ONE_HOST, in turn."""
    result, _masters, recap = fleet.playbook(PLAYBOOKS["site"], transport)
    converge = {"seconds": round(result.wall, 3), "changed": sum(host["changed"] for host in recap.values())}
    print(f"{TRANSPORTS[transport]}: site.yml converged in {result.wall:.1f} s (changed={converge['changed']})",
          flush=True)
    timings = {name: Timings() for name in RUNS}
    cpu = {name: [] for name in RUNS}
    masters_cpu = {name: [] for name in RUNS}
    for number in range(rounds):
        for name in RUNS:
            wait_for_quiet()
            if name.endswith("_one"):
                result, masters, recap = fleet.playbook(PLAYBOOKS[name.removesuffix("_one")], transport, "--limit",
                                                        ONE_HOST, hosts=(ONE_HOST,))
            else:
                result, masters, recap = fleet.playbook(PLAYBOOKS[name], transport)
            changed = {host: figures["changed"] for host, figures in recap.items() if figures["changed"]}
            if name != "ping" and changed:
                raise RuntimeError(f"a {name}.yml re-run over {transport} changed something: {changed}\n"
                                   f"{result.done.stdout[-4000:]}")
            timings[name].rounds.append(result.wall)
            cpu[name].append(result.cpu + masters)
            masters_cpu[name].append(masters)
        print(f"{TRANSPORTS[transport]}, round {number + 1}: ping {timings['ping'].rounds[-1]:.2f} s, "
              f"site.yml re-run {timings['site'].rounds[-1]:.2f} s, "
              f"trust.yml re-run {timings['trust'].rounds[-1]:.2f} s;"
              f" controller CPU-s ping {cpu['ping'][-1]:.2f}, site {cpu['site'][-1]:.2f}, "
              f"trust {cpu['trust'][-1]:.2f}, trust on {ONE_HOST} {cpu['trust_one'][-1]:.2f}; floors: module call "
              f"{timings['trust_module'].rounds[-1]:.2f} s, role in one play {timings['trust_role'].rounds[-1]:.2f} s",
              flush=True)
    return {"converge": converge, "seconds": {name: timings[name].as_dict() for name in RUNS},
            "cpu": {name: round(statistics.median(values), 3) for name, values in cpu.items()},
            "masters_cpu": {name: round(statistics.median(values), 3) for name, values in masters_cpu.items()}}


def figures(data: dict) -> dict:
    """The ratios of medians against the ping playbook, and the controller's CPU-seconds per host: what each host
    beyond ONE_HOST adds to a trust.yml re-run (the run's start-up and each module's packing are paid once a run,
    whatever the number of hosts); the run's CPU divided by its hosts, for information."""
    median = {name: data["seconds"][name]["median"] for name in PLAYBOOKS if name in data["seconds"]}
    cpu = data["cpu"]
    found = {"site": median["site"] / median["ping"],
             "trust_cpu_divided": cpu["trust"] / len(HOSTS), "ping_cpu_divided": cpu["ping"] / len(HOSTS)}
    # The floors are in the results measured since they were added.
    for name in PER_HOST:
        if name in median:
            found[name] = median[name] / median["ping"]
            found[f"{name}_cpu_per_host"] = (cpu[name] - cpu[f"{name}_one"]) / (len(HOSTS) - 1)
    return found


def verdict(transport: str, key: str, value: float) -> tuple[str, str]:
    """The target and whether it is met: issue 23's targets are for SSH; the other transport's are for information."""
    if transport != "ssh":
        return "(for information)", ""
    unit = "" if key.endswith("per_host") else "×"
    return f"<= {TARGETS[key]:g}{unit}", "yes" if value <= TARGETS[key] else "NO"


def per_host_rows(transport: str, label: str, data: dict, figure: dict, name: str, what: str, how: str) -> list:
    """The two rows of a run measured on every host and on ONE_HOST alone (``what``, described by ``how``): its time
    against the ping playbook's, and what a host adds to the controller's CPU; a floor (in FLOORS) has no target."""
    floor = "floor of `trust.yml`, for information: " if name in FLOORS else ""
    per_host = f"{name}_cpu_per_host"
    ratio_target, ratio_met = ("", "") if floor else verdict(transport, name, figure[name])
    cpu_target, cpu_met = ("", "") if floor else verdict(transport, per_host, figure[per_host])
    ratio = (f"| {label} | {floor}{what}{how} / `ping` playbook, same hosts | {spread(data['seconds'][name])} "
             f"| {spread(data['seconds']['ping'])} | {figure[name]:.1f}× | {ratio_target} | {ratio_met} |")
    cpu = (f"| {label} | {floor}controller CPU-s per host, {what}: what a host adds ({data['cpu'][name]:.2f} for "
           f"{len(HOSTS)} hosts, {data['cpu'][name + '_one']:.2f} for `{ONE_HOST}` alone, the difference over "
           f"{len(HOSTS) - 1} hosts) | | | {figure[per_host]:.2f} | {cpu_target} | {cpu_met} |")
    return [ratio, cpu]


def report(results: dict) -> str:
    info, load, ssh = results["machine"], results["load"], results["ssh"]
    releases = ", ".join(f"`{host}` Debian {release}" for host, (_image, release, _address) in HOSTS.items())
    lines = [
        "## Fleet over SSH: `site.yml` and `trust.yml` re-runs against one `ping` task, three Debian hosts",
        "",
        (f"Generated by `make bench` (`bench/fleet_ssh_bench.py`) on {results['when']}; raw figures in "
         f"`bench/output/fleet-ssh.json` (not committed). Machine: {info['cpus']} CPUs ({info['cpu']}), "
         f"{info['memory_gib']} GiB, Docker {info['docker']}, Python {info['python']}; load average when the "
         f"measurements began {load_text(load)}, at the end {loads(info['load_average'])}. Hosts: three molecule "
         f"Docker hosts ({releases}; `fleet-1` is the registry host as well), containers of this machine that run "
         "their own dockerd and share its CPUs with the controller, made as every molecule scenario makes its hosts. "
         f"**Transport SSH**: as the `runtimes` scenario reaches its hosts (`molecule/resources/ssh.yml`), with a key, "
         f"as the user `{USER}` who becomes root with sudo, host keys checked; pipelining "
         f"{'on' if ssh.get('pipelining') else 'off'}, ssh_args `{ssh.get('ssh_args')}` (Ansible's default: the "
         "connections persist between runs, as for a user re-running within a minute). **Transport `docker exec`** "
         "(`community.docker.docker`, same user and sudo; how molecule and `bench/fleet_bench.py` reach their hosts): "
         "for information, the targets are for SSH. Each transport: `site.yml` converges first, then "
         f"{results['rounds']} rounds of, in turn, `bench/ping.yml` (the baseline: one `debug` and one "
         "`ansible.builtin.ping` task), a `site.yml` re-run, a `trust.yml` re-run and a `trust.yml` re-run on "
         f"`{ONE_HOST}` alone (`--limit`), then, for information, two floors of `trust.yml` on the three hosts and on "
         f"`{ONE_HOST}` alone: `bench/trust_module.yml` (the `registry_trust` role's module call alone, with the "
         "role's variables) and `bench/trust_role.yml` (the role in one play, without the play that sorts the hosts "
         "into batches); each re-run `changed=0` on every host it runs on; each run starts after a "
         "quiet second (or 20 s of waiting). Seconds: median (min–max) of the "
         "rounds; ratios: of the medians, measured in the same run. Controller CPU: user + system seconds of the "
         "`ansible-playbook` tree (`getrusage(RUSAGE_CHILDREN)`, its `ssh` or `docker` clients included) plus, over "
         "SSH, the connection masters' CPU during the run; the median over the rounds."),
        "",
        "| transport | measure | ours, s | `ping` playbook, s | figure | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for transport, label in TRANSPORTS.items():
        if transport not in results["transports"]:
            continue
        data = results["transports"][transport]
        figure = figures(data)
        ping = spread(data["seconds"]["ping"])

        target, met = verdict(transport, "site", figure["site"])
        lines.append(f"| {label} | `site.yml` re-run / `ping` playbook, same hosts | {spread(data['seconds']['site'])} "
                     f"| {ping} | {figure['site']:.1f}× | {target} | {met} |")
        lines += per_host_rows(transport, label, data, figure, "trust", "`trust.yml` re-run", "")
        for name, (what, how) in FLOORS.items():
            if name in figure:
                lines += per_host_rows(transport, label, data, figure, name, what, f" ({how})")
        lines.append(f"| {label} | the same run's CPU divided by its {len(HOSTS)} hosts, start-up included, for "
                     f"information (`ping` playbook {figure['ping_cpu_divided']:.2f} a host) | | "
                     f"| {figure['trust_cpu_divided']:.2f} | | |")
        lines.append(f"| {label} | controller CPU-s of a `site.yml` re-run, for information | | | "
                     f"{data['cpu']['site']:.2f} | | |")
    if "ssh" in results["transports"]:
        masters = results["transports"]["ssh"].get("masters_cpu", {})
        lines += ["", ("Of the controller CPU over SSH, the connection masters used (median) "
                       + ", ".join(f"{masters[name]:.2f} CPU-s in a {name} run" for name in ("ping", "site", "trust")
                                   if name in masters) + ".")]
    converges = ", ".join(f"{TRANSPORTS[transport]} {data['converge']['seconds']:.0f} s"
                          for transport, data in results["transports"].items())
    lines += ["", (f"The converging `site.yml` of each transport (not a target; the second one finds the hosts "
                   f"converged by the first, over the other transport): {converges}.")]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--transport", choices=tuple(TRANSPORTS), action="append",
                        help="measure only over this transport (repeatable); default: ssh, then docker")
    parser.add_argument("--report-only", action="store_true",
                        help="write the fleet-ssh section of bench/RESULTS.md again from bench/output/fleet-ssh.json")
    options = parser.parse_args()
    results_file = OUTPUT / "fleet-ssh.json"
    if options.report_only:
        print(write_section("fleet-ssh", report(json.loads(results_file.read_text()))))
        return 0
    if options.rounds < 1:
        parser.error("--rounds must be 1 or more")
    for image, how in ((BOOKWORM, "make test-images"), (TRIXIE, "make test-images")):
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode:
            print(f"bench: the image {image} is missing: {how} builds it", file=sys.stderr)
            return 2
    if not REGISTRY_ARCHIVE.exists():
        print(f"bench: the registry image archive {REGISTRY_ARCHIVE} is missing: make test-images builds it",
              file=sys.stderr)
        return 2
    # A SIGTERM (make interrupted, a timeout) unwinds through the finally below, so the hosts go.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(143))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    work = OUTPUT / "fleet-ssh"
    shutil.rmtree(work, ignore_errors=True)
    fleet = Fleet(work)
    results = {"rounds": options.rounds, "transports": {}}
    try:
        fleet.create()
        results["ssh"] = ssh_options(fleet)
        results["load"] = wait_for_load()
        for transport in options.transport or list(TRANSPORTS):
            results["transports"][transport] = measure(fleet, transport, options.rounds)
    finally:
        fleet.destroy()
        shutil.rmtree(work, ignore_errors=True)
    save_results("fleet-ssh", results_file, results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
