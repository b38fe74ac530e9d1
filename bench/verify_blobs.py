"""``make bench``: how fast ``registry_image`` re-hashes an image's blobs, and how much memory it takes.

In one run, on the same multi-layer image (random data, so nothing compresses or deduplicates) pushed to a
TLS registry of the bench's own (a container ``dockyard-bench-blobs-*`` of the local registry image on a port of
5300-5349, its CA in certs.d, all removed afterwards), it measures:

* ``registry_image`` with ``state: verified``, ``verify: blobs``, ``pull: false``: the module file run
  directly with its arguments, as its own process, end to end (interpreter start, manifest requests,
  every blob fetched and re-hashed); and the blob phase alone, as the module reports it;
* ``skopeo copy docker://… dir:`` of the same image (it fetches and checks the same blobs, and writes them);
* ``openssl dgst -sha256`` pinned to one core over the blobs skopeo wrote: the same bytes, hashed from memory;
* the blob phase with 1 to 4 worker threads, which is how the module's worker count was chosen;
* the module process's peak RSS for a 1 GiB image, and for the small image, to show memory does not grow.

Every figure is the best (and the median) of ``--rounds`` runs, taken in turn so that load from other
processes spreads over all of them. Results go to ``bench/RESULTS.md`` and ``bench/output/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / ".collections"))

from _bench import Timings, bench_port, load_text, loads, machine, now, run, timed, wait_for_load, write_section
from scratch_registry import (
    CA,
    REGISTRY_IMAGE,
    RegistryAPI,
    ScratchRegistry,
    certs_d_entry,
    registry_image_present,
    tar_layer,
)

from ansible_collections.dockyard.registry.plugins.module_utils._reference import parse_reference
from ansible_collections.dockyard.registry.plugins.module_utils._registry import blobs as _blobs
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import registry_credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
from support import default_ipv4

MODULE = ROOT / "plugins" / "modules" / "registry_image.py"
OUTPUT = ROOT / "bench" / "output"
MIB = 1 << 20
TARGETS = {"vs_skopeo": 2.5, "vs_openssl": 0.5, "peak_rss_mb": 100}


class Bench:
    def __init__(self, options) -> None:
        self.options = options
        self.ip = default_ipv4()
        self.work = OUTPUT / f"work-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / ".collections")}
        self.env.pop("REQUESTS_CA_BUNDLE", None)

    # Set-up

    def push(self, api: RegistryAPI, repository: str, layers: int, layer_size: int) -> dict:
        """Push an OCI image of ``layers`` uncompressed tar layers of random data; the layer files go afterwards."""
        files = []
        for number in range(layers):
            files.append(tar_layer(self.work / f"{repository.replace('/', '-')}-{number}.tar", f"data-{number}",
                                   layer_size))
        pushed = api.push_image(repository, "1", files)
        for path in files:
            path.unlink()
        pushed["bytes"] = pushed["config"]["size"] + sum(layer["size"] for layer in pushed["layers"])
        return pushed

    # Measurements

    def module(self, reference: str, verify: str = "blobs") -> tuple[float, float, dict]:
        args_file = self.work / f"args-{uuid.uuid4().hex[:6]}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
            "name": reference, "state": "verified", "verify": verify, "pull": False}}))
        seconds, cpu, done = timed([sys.executable, str(MODULE), str(args_file)], env=self.env)
        result = json.loads(done.stdout)
        if result.get("failed"):
            raise RuntimeError(f"the module failed: {result['msg']}")
        return seconds, cpu, result

    def peak_rss_kib(self, reference: str, verify: str = "blobs") -> int:
        """Peak RSS of the module's own process (``/usr/bin/time`` measures the process it starts: the module)."""
        args_file = self.work / "rss-args.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
            "name": reference, "state": "verified", "verify": verify, "pull": False}}))
        report = self.work / "rss.txt"
        run(["/usr/bin/time", "-f", "%M", "-o", str(report), sys.executable, str(MODULE), str(args_file)], env=self.env)
        return int(report.read_text().split()[-1])

    def skopeo(self, reference: str, certs_dir: Path, destination: Path) -> tuple[float, float]:
        shutil.rmtree(destination, ignore_errors=True)
        seconds, cpu, _done = timed(["skopeo", "copy", "--quiet", "--src-cert-dir", str(certs_dir),
                                     f"docker://{reference}", f"dir:{destination}"])
        return seconds, cpu

    @staticmethod
    def openssl(blobs: list[Path]) -> tuple[float, float]:
        seconds, cpu, _done = timed(["taskset", "-c", "0", "openssl", "dgst", "-sha256", *map(str, blobs)])
        return seconds, cpu

    @staticmethod
    def workers(reference: str, workers: int) -> float:
        parsed = parse_reference(reference)
        with RegistryClient(parsed.registry, credentials=registry_credentials(parsed.registry)) as client:
            manifest = client.get_manifest(parsed)
            plan = _blobs.plan_image(manifest.content, manifest.digest, manifest.media_type, None, None)
            verifier = _blobs.BlobVerifier(client, parsed.repository, workers=workers)
            started = time.perf_counter()
            verifier.verify(plan)
            return time.perf_counter() - started

    # The run

    def main(self) -> dict:
        self.work.mkdir(parents=True)
        storage = self.work / "storage"
        storage.mkdir()
        ca = CA("dockyard bench CA")
        port = bench_port(self.ip)
        try:
            with ScratchRegistry(f"dockyard-bench-blobs-{uuid.uuid4().hex[:6]}", self.ip, port, self.work,
                                 certificate=ca.issue([self.ip]), storage=storage) as registry, \
                    certs_d_entry(registry.address, ca.pem) as certs_dir:
                return self.measure(registry, certs_dir)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def measure(self, registry: ScratchRegistry, certs_dir: Path) -> dict:
        options = self.options
        api = RegistryAPI(registry.url, str(certs_dir / "ca.crt"))
        print(f"pushing {options.layers} x {options.layer_mib} MiB and {options.big_layers} x "
              f"{options.big_layer_mib} MiB to {registry.address}", flush=True)
        image = self.push(api, "bench/image", options.layers, options.layer_mib * MIB)
        big = self.push(api, "bench/big", options.big_layers, options.big_layer_mib * MIB)
        api.close()
        reference, big_reference = f"{registry.address}/bench/image:1", f"{registry.address}/bench/big:1"

        copy_dir = self.work / "skopeo"
        module, phase, skopeo, openssl = Timings(), Timings(), Timings(), Timings()
        cpu = {"module": Timings(), "skopeo": Timings(), "openssl": Timings()}
        self.module(reference)  # warm the registry's page cache and descriptor cache once
        load = wait_for_load()
        for number in range(options.rounds):
            seconds, module_cpu, result = self.module(reference)
            assert result["blobs"]["bytes"] == image["bytes"], result["blobs"]
            module.rounds.append(seconds)
            cpu["module"].rounds.append(module_cpu)
            phase.rounds.append(result["blobs"]["seconds"])
            seconds, skopeo_cpu = self.skopeo(reference, certs_dir, copy_dir)
            skopeo.rounds.append(seconds)
            cpu["skopeo"].rounds.append(skopeo_cpu)
            blobs = sorted(path for path in copy_dir.iterdir() if len(path.name) == 64)
            assert sum(path.stat().st_size for path in blobs) == image["bytes"], "skopeo wrote other bytes"
            seconds, openssl_cpu = self.openssl(blobs)
            openssl.rounds.append(seconds)
            cpu["openssl"].rounds.append(openssl_cpu)
            print(f"round {number + 1}: module {module.rounds[-1]:.3f} s (blobs {phase.rounds[-1]:.3f} s), "
                  f"skopeo {skopeo.rounds[-1]:.3f} s, openssl {openssl.rounds[-1]:.3f} s", flush=True)
        shutil.rmtree(copy_dir, ignore_errors=True)

        sweep = {workers: Timings() for workers in range(1, 5)}
        for _round in range(options.rounds):
            for workers, timings in sweep.items():
                timings.rounds.append(self.workers(reference, workers))
        manifest_only = Timings([self.module(reference, "manifest")[0] for _round in range(options.rounds)])

        big_seconds, _big_cpu, big_result = self.module(big_reference)
        rss = {
            "big_blobs": self.peak_rss_kib(big_reference),
            "image_blobs": self.peak_rss_kib(reference),
            "big_manifest": self.peak_rss_kib(big_reference, "manifest"),
        }
        return {
            "when": now(),
            "machine": machine(),
            "load": load,
            "cpu_seconds": {name: timings.as_dict() for name, timings in cpu.items()},
            "rounds": options.rounds,
            "image": {"layers": options.layers, "bytes": image["bytes"], "digest": image["digest"]},
            "big": {"layers": options.big_layers, "bytes": big["bytes"], "digest": big["digest"],
                    "module_seconds": round(big_seconds, 4), "blob_seconds": big_result["blobs"]["seconds"]},
            "module": module.as_dict(), "blob_phase": phase.as_dict(), "skopeo": skopeo.as_dict(),
            "openssl": openssl.as_dict(), "manifest_only": manifest_only.as_dict(),
            "workers": {str(workers): timings.as_dict() for workers, timings in sweep.items()},
            "module_workers": _blobs.WORKERS,
            "peak_rss_kib": rss,
        }


def report(results: dict) -> str:
    """bench/RESULTS.md from the results."""
    size = results["image"]["bytes"]
    best, median = "best", "median"
    module, phase, skopeo, openssl = (results[key] for key in ("module", "blob_phase", "skopeo", "openssl"))

    def mbps(seconds: float, nbytes: int = size) -> str:
        return f"{nbytes / seconds / 1e6:.0f} MB/s"

    vs_skopeo = skopeo[best] / module[best]
    vs_openssl = openssl[best] / module[best]
    phase_vs_openssl = openssl[best] / phase[best]
    peak_mb = results["peak_rss_kib"]["big_blobs"] * 1024 / 1e6
    checks = [
        ("`verify: blobs` (module process) vs `skopeo copy`, speed-up", f"{vs_skopeo:.2f}x",
         f"{skopeo[median] / module[median]:.2f}x", f">= {TARGETS['vs_skopeo']}x", vs_skopeo >= TARGETS["vs_skopeo"]),
        ("`verify: blobs` (module process) vs `openssl dgst`, throughput ratio", f"{vs_openssl:.2f}",
         f"{openssl[median] / module[median]:.2f}", f">= {TARGETS['vs_openssl']}", vs_openssl >= TARGETS["vs_openssl"]),
        ("`verify: blobs` (blob phase) vs `openssl dgst`, throughput ratio", f"{phase_vs_openssl:.2f}",
         f"{openssl[median] / phase[median]:.2f}", f">= {TARGETS['vs_openssl']}",
         phase_vs_openssl >= TARGETS["vs_openssl"]),
        (f"peak RSS of the module process, {results['big']['bytes'] / 1e9:.2f} GB image", f"{peak_mb:.1f} MB", "",
         f"< {TARGETS['peak_rss_mb']} MB", peak_mb < TARGETS["peak_rss_mb"]),
    ]
    machine_info = results["machine"]
    cpu = results["cpu_seconds"]

    def row(what: str, timing: dict, cpu_timing: dict | None = None, throughput: bool = True) -> str:
        cpu_text = f"{cpu_timing[best]:.2f}" if cpu_timing else ""
        return (f"| {what} | {timing[best]:.3f} ({timing[median]:.3f}) | {mbps(timing[best]) if throughput else ''} "
                f"| {cpu_text} |")

    lines = [
        "## Comparison 4: re-hashing an image's blobs",
        "",
        (f"Generated by `make bench` (`bench/verify_blobs.py`) on {results['when']}; the run's raw figures are in "
         "`bench/output/results.json` (not committed)."),
        "",
        (f"Machine: {machine_info['cpus']} CPUs ({machine_info['cpu']}); Python {machine_info['python']}, "
         f"{machine_info['openssl']}, {machine_info['skopeo']}, Docker {machine_info['docker']}. Load average "
         f"(1, 5, 15 min) before the rounds {load_text(results['load'])}, at the end "
         f"{loads(machine_info['load_average'])}. The registry is a container on the "
         "same machine, reached over TLS at its non-loopback address: its TLS encryption shares the two cores with "
         "the client being measured, and is not counted in any CPU figure below."),
        "",
        (f"Image: {results['image']['layers']} layers of random data, {size / 1e6:.1f} MB in all "
         f"({results['image']['digest']}). Each figure is the best of {results['rounds']} rounds, taken in turn "
         "(median in brackets)."),
        "",
        "| what | seconds | throughput | CPU seconds (user + system, least) |",
        "| --- | --- | --- | --- |",
        row("`registry_image` `verify: blobs`, module process end to end", module, cpu["module"]),
        row("the same, blob phase only (as the module reports it)", phase),
        row("`registry_image` `verify: manifest`, module process (start-up and manifest requests)",
            results["manifest_only"], throughput=False),
        row("`skopeo copy docker://… dir:`", skopeo, cpu["skopeo"]),
        row("`taskset -c 0 openssl dgst -sha256` over the same blobs", openssl, cpu["openssl"]),
        "",
        "| check | best | median | target | met |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {name} | {value} | {med} | {target} | {'yes' if met else 'NO'} |"
          for name, value, med, target, met in checks),
        "",
        (f"The module-process figures include interpreter start-up, imports and the manifest requests (the "
         f"`verify: manifest` row, {results['manifest_only'][best]:.2f} s): a fixed cost, whose share falls as images "
         f"grow (the {results['big']['bytes'] / 1e6:.0f} MB image below verifies at "
         f"{mbps(results['big']['module_seconds'], results['big']['bytes'])} end to end). The blob phase is what "
         "grows with the image: fetching, decrypting and re-hashing every byte."),
        "",
        "### Worker threads (blob phase, in process)",
        "",
        f"The module fetches {results['module_workers']} blobs at a time, each over its own connection.",
        "",
        "| workers | seconds | throughput |",
        "| --- | --- | --- |",
        *(f"| {workers} | {timing[best]:.3f} ({timing[median]:.3f}) | {mbps(timing[best])} |"
          for workers, timing in results["workers"].items()),
        "",
        "### Memory",
        "",
        ("Peak RSS of the module's own process (`/usr/bin/time -f %M`), which streams every blob through one "
         "reused 1 MiB buffer per worker:"),
        "",
        "| run | peak RSS |",
        "| --- | --- |",
        (f"| `verify: blobs`, {results['big']['bytes'] / 1e6:.0f} MB image ({results['big']['layers']} layers; "
         f"{results['big']['module_seconds']:.2f} s, {mbps(results['big']['module_seconds'], results['big']['bytes'])}"
         f" end to end) | {results['peak_rss_kib']['big_blobs'] / 1024:.1f} MiB |"),
        f"| `verify: blobs`, {size / 1e6:.0f} MB image | {results['peak_rss_kib']['image_blobs'] / 1024:.1f} MiB |",
        (f"| `verify: manifest`, {results['big']['bytes'] / 1e6:.0f} MB image "
         f"| {results['peak_rss_kib']['big_manifest'] / 1024:.1f} MiB |"),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--layer-mib", type=int, default=50)
    parser.add_argument("--big-layers", type=int, default=8)
    parser.add_argument("--big-layer-mib", type=int, default=128)
    parser.add_argument("--report-only", action="store_true",
                        help="write bench/RESULTS.md again from bench/output/results.json, measuring nothing")
    options = parser.parse_args()
    if options.report_only:
        write_section("blobs", report(json.loads((OUTPUT / "results.json").read_text())))
        return 0
    for program in ("skopeo", "openssl", "taskset", "/usr/bin/time", "docker"):
        if not shutil.which(program):
            print(f"bench: {program} is missing (make test-deps installs skopeo)", file=sys.stderr)
            return 2
    if not registry_image_present():
        print(f"bench: the registry image {REGISTRY_IMAGE} is missing: make site builds it", file=sys.stderr)
        return 2
    results = Bench(options).main()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(write_section("blobs", report(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
