"""``make bench``: what ``playbooks/site.yml`` costs on one machine, beside what a user would run instead.

Never on this machine's own deployment: every run goes to a deployment of the bench's own, an inventory that is a
copy of ``inventories/local`` (the same host, variables and accounts) whose registry has its own port (5300-5349),
container (``dockyard-bench-site-<port>``), configuration, storage, PKI and credentials (under ``bench/output``),
and Docker client configuration (``DOCKER_CONFIG``, and ``registry_trust_docker_config`` beside it), as
``tests/integration/support.py``'s ``IsolatedSite`` does. Its certs.d entries (``<address>:<port>``) and the smoke
image's tags for its port go at the end; the registry image and ``dockyard/smoke:1`` (the smoke test's own build,
shared with every deployment of this machine) stay.

Re-run: ``site.yml`` once to converge, then, in turn, ``site.yml`` again (it must report ``changed=0``) and
``ansible-playbook`` with one no-op task (``bench/noop.yml``) on the same inventory, with the same extra variables and
environment; then one more re-run with ``ansible.posix.profile_tasks`` for where its time goes.

Cold: in turn, a cold ``site.yml`` and ``bench/floor_deploy.sh`` (the same work by hand, on a port of its own and
``dockyard-bench-floor-<port>``), each after a teardown that is not timed (the container, the configuration,
storage, PKI, credentials, certs.d entries, login and the smoke image's tags for the port: the engine and the
registry image stay, as "cold" means here). After each round the two deployments are compared (the container's
settings, every file's mode and owner, the certificate's names, the configuration, the accounts' bcrypt cost,
certs.d, the login, the smoke image in the registry); any difference stops the bench. One more cold ``site.yml`` with
``profile_tasks`` (not timed) says where the cold run's time goes.

Both sides are timed the same way: the wall time of the process (under ``/usr/bin/time -f %M``, which also gives the
largest resident set of its tree), with the user + system CPU of its waited-for tree. Results:
``bench/output/site.json`` and the ``site`` section of ``bench/RESULTS.md``.
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
import time
from pathlib import Path

import bcrypt
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / ".collections"))

from _bench import (
    CERTS_D,
    OUTPUT,
    PLAYBOOK,
    Timings,
    bench_port,
    differences,
    load_text,
    loads,
    measured,
    module_tasks,
    recaps,
    run,
    save_results,
    slowest_tasks,
    spread,
    wait_for_load,
    wait_for_quiet,
    write_section,
)
from scratch_registry import REGISTRY_IMAGE, registry_image_present

from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._names import san_entries
from support import default_ipv4, stop_proxy

PYTHON = ROOT / ".venv" / "bin" / "python"
LOCAL_INVENTORY = ROOT / "inventories" / "local"
SITE_YML = ROOT / "playbooks" / "site.yml"
PING_YML = ROOT / "bench" / "ping.yml"
NOOP_YML = ROOT / "bench" / "noop.yml"
FLOOR = ROOT / "bench" / "floor_deploy.sh"
HOST = "dockyard-local"  # the local inventory's one host
TARGETS = {"rerun": 8, "cold": 3}


class Deployment:
    """One deployment of the bench's own on this machine: a root directory (the layout of an inventory copy: its
    ``inventory/`` with ``pki/`` and ``credentials/``, the registry host's ``etc/``, ``etc/tls/``, ``data/``, the
    baseline's ``smoke/`` build directory (the smoke module builds from a context in memory), and ``docker/``), a port
    and a container name. ``tear_down`` takes all of it away but the inventory's files."""

    def __init__(self, root: Path, ip: str, port: int, name: str) -> None:
        self.root, self.ip, self.port, self.name = root, ip, port, name
        self.inventory = root / "inventory"
        self.inventory.mkdir(parents=True, exist_ok=True)
        shutil.copy(LOCAL_INVENTORY / "hosts.yml", self.inventory / "hosts.yml")
        shutil.copytree(LOCAL_INVENTORY / "group_vars", self.inventory / "group_vars", dirs_exist_ok=True)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def extra_vars(self) -> dict:
        """Where this deployment differs from the local inventory's: nothing of the machine's own deployment is used."""
        return {
            "registry_port": self.port,
            "registry_server_container_name": self.name,
            "registry_server_config_dir": str(self.root / "etc"),
            "registry_server_tls_dir": str(self.root / "etc" / "tls"),
            "registry_pki_server_dir": str(self.root / "etc" / "tls"),
            "registry_server_data_dir": str(self.root / "data"),
            "registry_trust_docker_config": str(self.root / "docker" / "config.json"),
        }

    def env(self, **extra: str) -> dict:
        environment = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                       "DOCKER_CONFIG": str(self.root / "docker"), **extra}
        environment.pop("REQUESTS_CA_BUNDLE", None)
        return environment

    def playbook(self, playbook: Path, **extra_env: str):
        """One ``ansible-playbook`` run on this deployment's inventory, measured; it must succeed."""
        result = measured([str(PLAYBOOK), "-i", str(self.inventory / "hosts.yml"), str(playbook),
                           "-e", json.dumps(self.extra_vars)], cwd=ROOT, env=self.env(**extra_env))
        hosts = recaps(result.done.stdout)
        if result.done.returncode or not hosts:
            raise RuntimeError(f"{playbook.name} failed ({result.done.returncode}):\n{result.done.stdout[-4000:]}\n"
                               f"{result.done.stderr[-2000:]}")
        return result, {key: sum(host[key] for host in hosts.values()) for key in ("ok", "changed", "failed")}

    def floor(self):
        """``bench/floor_deploy.sh`` on this deployment, measured; it must succeed."""
        sans = ",".join(san_entries([name for name in (HOST, *identity().values()) if name]))
        result = measured([str(FLOOR), str(self.root), self.ip, str(self.port), self.name, REGISTRY_IMAGE, str(PYTHON),
                           sans], env=self.env())
        if result.done.returncode:
            raise RuntimeError(f"floor_deploy.sh failed ({result.done.returncode}):\n{result.done.stdout[-2000:]}\n"
                               f"{result.done.stderr[-3000:]}")
        return result

    def tear_down(self) -> None:
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True, check=False)
        stop_proxy(self.name)  # site.yml's authenticating proxy holds the port floor_deploy.sh publishes on
        for entry in CERTS_D.glob(f"*:{self.port}") if CERTS_D.is_dir() else []:
            shutil.rmtree(entry)
        repository = f"{self.address}/dockyard/smoke"
        for line in run(["docker", "image", "ls", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}",
                         repository]).stdout.splitlines():
            _repository, tag, digest = line.split()
            for reference in ([f"{repository}:{tag}"] if tag != "<none>" else []) + (
                    [f"{repository}@{digest}"] if digest != "<none>" else []):
                subprocess.run(["docker", "rmi", reference], capture_output=True, check=False)
        for path in ("etc", "data", "smoke", "docker", "inventory/pki", "inventory/credentials", "server.csr",
                     "server.ext", "ca.srl", "container.json"):
            target = self.root / path
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    # What the deployment is, to compare one with another (port and secrets left out).

    def state(self) -> dict:
        inspect = json.loads(run(["docker", "inspect", self.name]).stdout)[0]
        host, config = inspect["HostConfig"], inspect["Config"]
        bindings = host["PortBindings"]["5000/tcp"]
        container = {
            "image": config["Image"], "user": config["User"], "healthcheck": config["Healthcheck"],
            "labels": sorted(config.get("Labels") or {}),
            "published_on": [binding["HostIp"] for binding in bindings],
            "mounts": sorted((mount["Target"], mount.get("ReadOnly", False)) for mount in host["Mounts"]),
            **{key: host[key] for key in ("ReadonlyRootfs", "Tmpfs", "CapDrop", "SecurityOpt", "Memory", "NanoCpus",
                                          "PidsLimit", "RestartPolicy", "Privileged", "CapAdd")},
            "running": inspect["State"]["Running"],
        }
        files = {}
        for path in ("etc", "etc/config.yml", "etc/htpasswd", "etc/tls", "etc/tls/server.key", "etc/tls/server.crt",
                     "etc/tls/ca.crt", "data", "inventory/pki", "inventory/pki/ca.key", "inventory/pki/ca.crt",
                     f"inventory/pki/servers/{HOST}.crt", "inventory/credentials", "inventory/credentials/dockyard",
                     "inventory/credentials/ci", "inventory/credentials/ca-passphrase", "inventory/pki/secrets/http-secret",
                     "docker/config.json"):
            stat = (self.root / path).stat()
            files[path] = f"{stat.st_mode & 0o7777:04o} {stat.st_uid}:{stat.st_gid}"
        certificate = x509.load_pem_x509_certificate((self.root / "etc/tls/server.crt").read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ca = x509.load_pem_x509_certificate((self.root / "inventory/pki/ca.crt").read_bytes())
        server_key = certificate.public_key()
        config_yml = yaml.safe_load((self.root / "etc/config.yml").read_text())
        config_yml["http"]["secret"] = "<secret>" if config_yml["http"].get("secret") else None
        htpasswd = [line.split(":", 1) for line in (self.root / "etc/htpasswd").read_text().split()]
        certs_d = {entry.name.rsplit(":", 1)[0]: (entry / "ca.crt").read_bytes() == ca.public_bytes(
            serialization.Encoding.PEM) for entry in CERTS_D.glob(f"*:{self.port}")}
        logins = json.loads((self.root / "docker/config.json").read_text()).get("auths", {})
        account = ("dockyard", (self.root / "inventory/credentials/dockyard").read_text().split()[0])
        smoke = requests.head(f"https://{self.address}/v2/dockyard/smoke/manifests/1", auth=account, timeout=10,
                              verify=str(self.root / "etc/tls/ca.crt"),
                              headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        return {
            "container": container, "files": files,
            "certificate": {"names": sorted(str(name.value) for name in names),
                            "server_key": server_key.curve.name if isinstance(server_key, ec.EllipticCurvePublicKey)
                            else type(server_key).__name__,
                            "extended_key_usage": [usage.dotted_string for usage in certificate.extensions
                                                   .get_extension_for_class(x509.ExtendedKeyUsage).value],
                            "issuer_is_ca": certificate.issuer == ca.subject,
                            "ca_basic_constraints": str(ca.extensions.get_extension_for_class(
                                x509.BasicConstraints).value),
                            "ca_key_encrypted": b"ENCRYPTED" in (self.root / "inventory/pki/ca.key").read_bytes()},
            "config_yml": config_yml,
            "htpasswd": [(name, hashed[:7]) for name, hashed in htpasswd],
            "certs_d": certs_d, "logins": sorted(address.rsplit(":", 1)[0] for address in logins),
            "smoke_manifest": smoke.status_code,
        }


def rerun(site: Deployment, rounds: int) -> dict:
    site.tear_down()
    site.playbook(SITE_YML)  # converge first: the rounds must all be re-runs
    timings = {"site": Timings(), "noop": Timings()}
    cpu = {"site": [], "noop": []}
    rss = {"site": 0, "noop": 0}
    recap = {}
    for number in range(rounds):
        for who, playbook in (("site", SITE_YML), ("noop", NOOP_YML)):
            wait_for_quiet()
            result, recap_ = site.playbook(playbook)
            if who == "site":
                recap = recap_
                if recap["changed"]:
                    raise RuntimeError(f"site.yml re-run changed something: {recap}\n{result.done.stdout[-3000:]}")
            timings[who].rounds.append(result.wall)
            cpu[who].append(result.cpu)
            rss[who] = max(rss[who], result.max_rss_kib)
        print(f"re-run round {number + 1}: site.yml {timings['site'].rounds[-1]:.2f} s, no-op "
              f"{timings['noop'].rounds[-1]:.2f} s", flush=True)
    wait_for_quiet()
    profiled, _recap = site.playbook(SITE_YML, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                                     PROFILE_TASKS_TASK_OUTPUT_LIMIT="200")
    return {"site": timings["site"].as_dict(), "noop": timings["noop"].as_dict(), "recap": recap,
            "cpu": {who: round(statistics.median(values), 3) for who, values in cpu.items()}, "peak_rss_kib": rss,
            "profile": profile(profiled), "parts": parts(site)}


def parts(site: Deployment, repeat: int = 3) -> dict:
    """What bounds a re-run, measured on its own (the median of ``repeat``, in turn): one module call (``bench/ping.yml``,
    the no-op play with one ``ansible.builtin.ping`` task added, against ``bench/noop.yml``), and the bcrypt hashes of
    the accounts that the registry_config task's arguments are templated with on the controller."""
    walls = {"ping": [], "noop": []}
    cpus = {"ping": [], "noop": []}
    for _try in range(repeat):
        for who, playbook in (("ping", PING_YML), ("noop", NOOP_YML)):
            wait_for_quiet()
            result, _recap = site.playbook(playbook)
            walls[who].append(result.wall)
            cpus[who].append(result.cpu)
    passwords = [path.read_text().split()[0].encode() for path in (site.inventory / "credentials").iterdir()
                 if path.name in ("dockyard", "ci")]
    hashing = []
    for _try in range(repeat):
        started = time.process_time()
        for password in passwords:
            bcrypt.hashpw(password, bcrypt.gensalt(10))
        hashing.append(time.process_time() - started)
    return {"module_call": {who: {"seconds": round(statistics.median(walls[who]), 3),
                                  "cpu": round(statistics.median(cpus[who]), 3)} for who in walls},
            "bcrypt": {"accounts": len(passwords), "cpu": round(min(hashing), 3)}}


def profile(result) -> dict:
    tasks = slowest_tasks(result.done.stdout, 300)
    return {"seconds": round(result.wall, 3), "tasks": tasks, "tasks_total": round(sum(s for _n, s in tasks), 3),
            "task_count": len(tasks), "modules": module_tasks(result.done.stdout)}


def cold(site: Deployment, floor: Deployment, rounds: int) -> dict:
    timings = {"site": Timings(), "floor": Timings()}
    cpu = {"site": [], "floor": []}
    rss = {"site": 0, "floor": 0}
    recap = {}
    compared = []
    for number in range(rounds):
        site.tear_down()
        wait_for_quiet()
        result, recap = site.playbook(SITE_YML)
        timings["site"].rounds.append(result.wall)
        cpu["site"].append(result.cpu)
        rss["site"] = max(rss["site"], result.max_rss_kib)
        floor.tear_down()
        wait_for_quiet()
        result = floor.floor()
        timings["floor"].rounds.append(result.wall)
        cpu["floor"].append(result.cpu)
        rss["floor"] = max(rss["floor"], result.max_rss_kib)
        found = differences(site.state(), floor.state())
        if found:
            raise RuntimeError("the cold site.yml run and floor_deploy.sh did not make the same deployment:\n"
                               + "\n".join(found))
        compared.append(number + 1)
        print(f"cold round {number + 1}: site.yml {timings['site'].rounds[-1]:.2f} s (changed={recap['changed']}), "
              f"floor {timings['floor'].rounds[-1]:.2f} s; the deployments agree", flush=True)
    site.tear_down()
    wait_for_quiet()
    profiled, _recap = site.playbook(SITE_YML, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                                     PROFILE_TASKS_TASK_OUTPUT_LIMIT="300")
    return {"site": timings["site"].as_dict(), "floor": timings["floor"].as_dict(), "recap": recap,
            "cpu": {who: round(statistics.median(values), 3) for who, values in cpu.items()}, "peak_rss_kib": rss,
            "compared_rounds": compared, "profile": profile(profiled)}


def report(results: dict) -> str:
    info, load = results["machine"], results["load"]
    lines = [
        "## `site.yml` against what a user would run instead",
        "",
        (f"Generated by `make bench` (`bench/site_bench.py`) on {results['when']}; raw figures in "
         "`bench/output/site.json` (not committed). Machine: "
         f"{info['cpus']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, Docker {info['docker']}, Python "
         f"{info['python']}; load average when the measurements began {load_text(load)}, at the end "
         f"{loads(info['load_average'])}. Figures are the median (min–max) of {results['rounds']} "
         "rounds, ours and the baseline taken in turn, each starting after a quiet second of the machine (or 20 s of "
         "waiting); each is the wall time of the process (`/usr/bin/time`), its CPU the user + system seconds of its "
         "process tree. Every run is on an inventory of the bench's own, a copy of `inventories/local` whose registry "
         "has its own port (5300-5349), container, directories, PKI, credentials and Docker "
         "client configuration: `make bench` never touches this machine's deployment."),
        "",
        "| measure | ours, s | baseline, s | ratio of medians | target | met | CPU-s, ours / baseline | peak RSS, ours |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    if "rerun" in results:
        data = results["rerun"]
        ratio = data["site"]["median"] / data["noop"]["median"]
        lines.append(f"| `site.yml` re-run (changed={data['recap']['changed']}) / `ansible-playbook` with one no-op task "
                     f"(`bench/noop.yml`), same inventory | {spread(data['site'])} | {spread(data['noop'])} "
                     f"| {ratio:.1f} | <= {TARGETS['rerun']} | {'yes' if ratio <= TARGETS['rerun'] else 'NO'} "
                     f"| {data['cpu']['site']:.2f} / {data['cpu']['noop']:.2f} "
                     f"| {data['peak_rss_kib']['site'] / 1024:.0f} MiB |")
        notes += rerun_notes(data)
    if "cold" in results:
        data = results["cold"]
        ratio = data["site"]["median"] / data["floor"]["median"]
        lines.append(f"| cold `site.yml` (changed={data['recap']['changed']}) / `bench/floor_deploy.sh`, the same work "
                     f"by hand | {spread(data['site'])} | {spread(data['floor'])} | {ratio:.1f} | <= {TARGETS['cold']} "
                     f"| {'yes' if ratio <= TARGETS['cold'] else 'NO'} | {data['cpu']['site']:.2f} / "
                     f"{data['cpu']['floor']:.2f} | {data['peak_rss_kib']['site'] / 1024:.0f} MiB |")
        notes += cold_notes(data, results.get("rerun"))
    return "\n".join(lines + notes) + "\n"


def task_table(profile_: dict, count: int) -> list[str]:
    return ["", "| task | seconds |", "| --- | --- |",
            *(f"| {name.replace('|', '/')} | {seconds:.2f} |" for name, seconds in profile_["tasks"][:count])]


def rerun_notes(data: dict) -> list[str]:
    profile_, parts_ = data["profile"], data["parts"]
    noop = data["noop"]["median"]
    budget = TARGETS["rerun"] * noop
    over = [(name, seconds) for name, seconds in profile_["tasks"] if seconds >= 0.1]
    call = parts_["module_call"]
    one_call = call["ping"]["seconds"] - call["noop"]["seconds"]
    return [
        "",
        (f"### The re-run (`ansible.posix.profile_tasks`; that run took {profile_['seconds']:.1f} s, its "
         f"{profile_['task_count']} tasks {profile_['tasks_total']:.1f} s, {profile_['modules']} of them run, the rest "
         "skipped)"),
        *task_table(profile_, 10),
        "",
        (f"What bounds it: the no-op playbook takes {noop:.2f} s (the interpreter, Ansible's imports, the inventory, "
         f"one play), so the target allows {budget:.1f} s. The re-run's {profile_['task_count']} tasks take "
         f"{profile_['tasks_total']:.1f} s; {len(over)} take 0.1 s or more, {sum(s for _n, s in over):.1f} s between "
         f"them, and the rest {profile_['tasks_total'] - sum(s for _n, s in over):.1f} s: each task, even one skipped "
         "or one that only checks variables on the controller, costs the templating of its arguments and conditions "
         f"and a callback round. The {sum(1 for _n, s in profile_['tasks'] if s >= 0.5)} tasks of 0.5 s or more each "
         f"run a module on the host. One module call costs {one_call:.2f} s here, by subtraction: the no-op play with one `ansible.builtin.ping` task added "
         f"(`bench/ping.yml`) takes {call['ping']['seconds']:.2f} s ({call['ping']['cpu']:.2f} CPU-s), the no-op play "
         f"{call['noop']['seconds']:.2f} s ({call['noop']['cpu']:.2f} CPU-s): Ansible builds the module's archive with "
         "every module_utils file it imports on the controller, and the host's interpreter unpacks it and compiles "
         "and imports them before the module does anything; the collection's modules import more (the Docker SDK, "
         "cryptography, the registry client). The registry_config task's arguments carry the htpasswd file, whose "
         f"{parts_['bcrypt']['accounts']} bcrypt hashes at cost 10 the controller computes again on every run "
         f"({parts_['bcrypt']['cpu']:.2f} CPU-s) to compare them with the host's."),
    ]


def cold_notes(data: dict, rerun_data: dict | None) -> list[str]:
    profile_ = data["profile"]
    text = [
        "",
        (f"### The cold run (`ansible.posix.profile_tasks`, one more run, not timed: it took {profile_['seconds']:.1f} s, "
         f"its {profile_['task_count']} tasks {profile_['tasks_total']:.1f} s, {profile_['modules']} of them run)"),
        *task_table(profile_, 12),
        "",
        (f"The baseline does the same work in {data['floor']['median']:.2f} s: after each round both deployments were "
         "compared, and agreed on every point checked (the container's user, read-only root filesystem, tmpfs, "
         "dropped capabilities, no-new-privileges, memory, CPUs, pids, restart policy, exec-form health check, bind "
         "address, mounts and label; the mode and owner of every file; the certificate's names, key, extended key "
         "usage and issuer; the CA's constraints and its encrypted key; the configuration; the accounts' bcrypt "
         "cost; certs.d entries; the login; the smoke image served by the registry)."
         + (f" A cold run costs {data['site']['median'] - rerun_data['site']['median']:.1f} s more than a re-run "
            "(subtraction of the two medians): the rest is the same cost per task as the re-run's." if rerun_data
            else "")),
        ("Where the two do the same step differently: the baseline polls /v2/ every 0.1 s while the container "
         "starts, the role every `registry_server_health_delay` (2) s; it creates the container through the Engine "
         "API with curl (the docker CLI cannot give the image's exec-form health check, and the image has no shell); "
         "it hashes the passwords with random salts (the role derives them from the http secret, at the same cost); "
         "and it runs `docker login` where the trust module writes the Docker client configuration itself after "
         "its probe."),
    ]
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=("rerun", "cold"), action="append",
                        help="run only this comparison (repeatable); default: all")
    parser.add_argument("--report-only", action="store_true",
                        help="write the site section of bench/RESULTS.md again from bench/output/site.json")
    options = parser.parse_args()
    results_file = OUTPUT / "site.json"
    if options.report_only:
        write_section("site", report(json.loads(results_file.read_text())))
        return 0
    wanted = options.only or ["rerun", "cold"]
    if "rerun" not in wanted and not registry_image_present():
        # The re-run comparison's first site.yml run builds it; a cold run must find it, as "cold" means here.
        print(f"bench: the registry image {REGISTRY_IMAGE} is missing: make site, or a run of the re-run comparison, "
              "builds it", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(143))
    ip = default_ipv4()
    results = {"rounds": options.rounds}
    if options.only and results_file.exists():  # keep the other comparison's figures from the last run
        results = {**json.loads(results_file.read_text()), **results}
    work = OUTPUT / "site"
    shutil.rmtree(work, ignore_errors=True)
    site_port = bench_port(ip)
    site = Deployment(work / "site", ip, site_port, f"dockyard-bench-site-{site_port}")
    floor_port = bench_port(ip, {site_port})
    floor = Deployment(work / "floor", ip, floor_port, f"dockyard-bench-floor-{floor_port}")
    try:
        results["load"] = wait_for_load()
        if "rerun" in wanted:
            results["rerun"] = rerun(site, options.rounds)
        if "cold" in wanted:
            results["cold"] = cold(site, floor, options.rounds)
    finally:
        site.tear_down()
        floor.tear_down()
        shutil.rmtree(work, ignore_errors=True)
    save_results("site", results_file, results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
