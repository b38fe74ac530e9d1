"""``make bench``: comparison 3 of issue 8, ``registry_image`` push and pull against ``docker push`` and ``docker pull``.

A multi-layer image of random data (``--layers`` x ``--layer-mib``, built FROM scratch as
``dockyard-bench-move:1``) is pushed to a fresh TLS registry (a container ``dockyard-bench-move-registry`` of
the local registry image on a port of 5300-5349, its CA in certs.d) and pulled back after the image was removed, once by
the ``registry_image`` module (its file run directly with its arguments, as its own process) and once by the
docker CLI, in turn, each push to an empty registry. Everything the bench makes goes again at the end.
Peak memory: the largest resident set of the module's process and of the ``docker`` CLI process
(``/usr/bin/time -f %M``); the CLI's figure leaves out dockerd, which moves the image for it.
Results: ``bench/output/move.json`` and the ``move`` section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from _bench import (
    Timings,
    bench_port,
    load_text,
    loads,
    measured,
    run,
    save_results,
    spread,
    wait_for_load,
    write_section,
)
from scratch_registry import CA, REGISTRY_IMAGE, certs_d_entry, registry_image_present

from support import default_ipv4

MODULE = ROOT / "plugins" / "modules" / "registry_image.py"
OUTPUT = ROOT / "bench" / "output"
NAME = "dockyard-bench-move-registry"
IMAGE = "dockyard-bench-move:1"
TARGET = 1.15
MIB = 1 << 20


def build_image(work: Path, layers: int, layer_mib: int) -> int:
    context = work / "context"
    context.mkdir()
    lines = ["FROM scratch"]
    for number in range(layers):
        with open(context / f"layer-{number}", "wb") as handle:
            handle.writelines(os.urandom(MIB) for _chunk in range(layer_mib))
        lines.append(f"COPY layer-{number} /layer-{number}")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    run(["docker", "build", "-q", "-t", IMAGE, str(context)])
    shutil.rmtree(context)
    return int(run(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE]).stdout)


class Registry:
    """A fresh registry container (no volume: its storage goes with it)."""

    def __init__(self, ip: str, port: int, work: Path, certificate) -> None:
        self.ip, self.port, self.work = ip, port, work
        (work / "server.crt").write_bytes(certificate.pem)
        (work / "server.key").write_bytes(certificate.key_pem)
        (work / "server.key").chmod(0o444)

    def start(self) -> None:
        self.stop()
        run(["docker", "run", "-d", "--name", NAME, "-p", f"{self.ip}:{self.port}:5000",
             "-v", f"{self.work / 'server.crt'}:/certs/server.crt:ro", "-v", f"{self.work / 'server.key'}:/certs/server.key:ro",
             "-e", "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt", "-e", "REGISTRY_HTTP_TLS_KEY=/certs/server.key",
             "-e", "REGISTRY_LOG_LEVEL=warn", "-e", f"REGISTRY_HTTP_SECRET={os.urandom(16).hex()}", REGISTRY_IMAGE])
        for _try in range(100):
            if subprocess.run(["curl", "-fsS", "-o", "/dev/null", "--cacert", str(self.work / "ca.crt"),
                               f"https://{self.ip}:{self.port}/v2/"], check=False, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("the bench registry did not answer")

    @staticmethod
    def stop() -> None:
        subprocess.run(["docker", "rm", "-f", "-v", NAME], check=False, capture_output=True)


def module(work: Path, arguments: dict) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of the module's process."""
    args_file = work / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": arguments}))
    environment = {**os.environ, "PYTHONPATH": str(ROOT / ".collections")}
    environment.pop("REQUESTS_CA_BUNDLE", None)
    result = measured([sys.executable, str(MODULE), str(args_file)], env=environment)
    done = result.done
    output = json.loads(done.stdout or "{}")
    if done.returncode or output.get("failed") or not output.get("changed"):
        raise RuntimeError(f"registry_image {arguments['state']}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return result.wall, result.max_rss_kib


def cli(*args: str) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of the docker CLI's process (dockerd does the work: not counted)."""
    result = measured(["docker", *args])
    if result.done.returncode:
        raise RuntimeError(f"docker {' '.join(args)}: {result.done.stderr[-2000:]}")
    return result.wall, result.max_rss_kib


def forget(reference: str) -> None:
    """Remove the image from the daemon entirely, so that a pull fetches every layer."""
    subprocess.run(["docker", "rmi", "-f", reference, IMAGE], check=False, capture_output=True)


def measure(options, ip: str, work: Path) -> dict:
    ca = CA("dockyard bench move CA")
    (work / "ca.crt").write_bytes(ca.pem)
    port = bench_port(ip)
    registry = Registry(ip, port, work, ca.issue([ip]))
    address = f"{ip}:{port}"
    size = build_image(work, options.layers, options.layer_mib)
    timings = {key: Timings() for key in ("module_push", "cli_push", "module_pull", "cli_pull")}
    rss = {key: 0 for key in timings}

    def record(key: str, figures: tuple[float, int]) -> None:
        timings[key].rounds.append(figures[0])
        rss[key] = max(rss[key], figures[1])

    with certs_d_entry(address, ca.pem):
        try:
            for number in range(options.rounds):
                for who in ("module", "cli"):
                    reference = f"{address}/bench/{who}:{number}"
                    registry.start()
                    if who == "module":
                        record("module_push", module(work, {"name": reference, "source": IMAGE, "state": "pushed"}))
                    else:
                        run(["docker", "tag", IMAGE, reference])
                        record("cli_push", cli("push", "-q", reference))
                    forget(reference)
                    if who == "module":
                        record("module_pull", module(work, {"name": reference, "state": "pulled"}))
                    else:
                        record("cli_pull", cli("pull", "-q", reference))
                    run(["docker", "tag", reference, IMAGE])
                    run(["docker", "rmi", reference])
                print(f"round {number + 1}: " + ", ".join(f"{key} {value.rounds[-1]:.2f} s"
                                                          for key, value in timings.items()), flush=True)
        finally:
            registry.stop()
            subprocess.run(["docker", "rmi", "-f", IMAGE], check=False, capture_output=True)
    return {"bytes": size, "layers": options.layers, "peak_rss_kib": rss,
            **{key: value.as_dict() for key, value in timings.items()}}


def report(results: dict) -> str:
    info = results["machine"]
    lines = [
        "## Comparison 3: moving an image, `registry_image` against the docker CLI",
        "",
        (f"Generated by `make bench` (`bench/move_bench.py`) on {results['when']}; raw figures in "
         f"`bench/output/move.json` (not committed). Machine: {info['cpus']} CPUs ({info['cpu']}), "
         f"{info['memory_gib']} GiB, Docker {info['docker']}; load average before "
         f"{load_text(results['load'])}, after {loads(info['load_average'])}. Image: "
         f"{results['layers']} layers of random data, {results['bytes'] / 1e6:.0f} MB; each push goes to an empty "
         "registry, each pull to a daemon without the image. The module's figures are its own process end to end. "
         f"Median (min–max) of {results['rounds']} rounds, module and CLI in turn. Peak RSS: the largest resident "
         "set over the rounds of the module's process and of the `docker` CLI process (`/usr/bin/time -f %M`); "
         "the CLI's leaves out dockerd, which moves the image for it."),
        "",
        ("| step | `registry_image`, s | docker CLI, s | ratio of medians | target | met "
         "| peak RSS, module process | peak RSS, `docker` CLI |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rss = results.get("peak_rss_kib", {})

    def mib(key: str) -> str:
        return f"{rss[key] / 1024:.0f} MiB" if key in rss else "not measured"

    for step in ("push", "pull"):
        ours, theirs = results[f"module_{step}"], results[f"cli_{step}"]
        ratio = ours["median"] / theirs["median"]
        lines.append(f"| {step} | {spread(ours)} | {spread(theirs)} | {ratio:.2f} | <= {TARGET} "
                     f"| {'yes' if ratio <= TARGET else 'NO'} | {mib(f'module_{step}')} | {mib(f'cli_{step}')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--layer-mib", type=int, default=50)
    parser.add_argument("--report-only", action="store_true")
    options = parser.parse_args()
    results_file = OUTPUT / "move.json"
    if options.report_only:
        write_section("move", report(json.loads(results_file.read_text())))
        return 0
    if not registry_image_present():
        print(f"bench: the registry image {REGISTRY_IMAGE} is missing: make site builds it", file=sys.stderr)
        return 2
    results = {"rounds": options.rounds, "load": wait_for_load()}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-move-", dir=OUTPUT) as work:
        results.update(measure(options, default_ipv4(), Path(work)))
    save_results("move", results_file, results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
