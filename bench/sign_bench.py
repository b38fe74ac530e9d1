"""``make bench``: what signing an image and checking its signature cost, beside a push and a pull of it.

On a TLS registry of the bench's own (a container ``dockyard-bench-sign-*`` of the local registry image on a port of
5300-5349, its CA in certs.d, all removed afterwards), each round builds an image of one layer of ``--layer-mib`` MiB
of random data (a new digest every round) and measures, on the same image:

* ``docker push`` of it;
* ``registry_image`` ``state: signed`` with the test key (``tests/cosign-keys``): the module file run directly, as
  its own process, end to end (interpreter start, the key opened with scrypt, the signature written);
* ``registry_image`` ``state: verified``, ``verify: signature``, ``pull: false``, and the same with ``verify:
  manifest``, so that the difference is the signature check alone;
* ``docker pull`` of it by digest, its local copies removed first.

Every figure is the best (and the median) of ``--rounds`` rounds. Results go to the ``signatures`` section of
``bench/RESULTS.md`` and ``bench/output/sign-results.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from _bench import Timings, bench_port, load_text, run, save_results, timed, wait_for_load
from scratch_registry import CA, REGISTRY_IMAGE, ScratchRegistry, certs_d_entry, registry_image_present

from support import default_ipv4

MODULE = ROOT / "plugins" / "modules" / "registry_image.py"
OUTPUT = ROOT / "bench" / "output"
KEYS = ROOT / "tests" / "cosign-keys"
MIB = 1 << 20


class Bench:
    def __init__(self, options) -> None:
        self.options = options
        self.ip = default_ipv4()
        self.work = OUTPUT / f"sign-work-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / ".collections")}
        self.env.pop("REQUESTS_CA_BUNDLE", None)

    def build(self, name: str) -> None:
        """An image of one layer of random data, built from an in-memory context."""
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for member, data in (("Dockerfile", b"FROM scratch\nCOPY data /data\n"),
                                 ("data", os.urandom(self.options.layer_mib * MIB))):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        subprocess.run(["docker", "build", "--quiet", "--tag", name, "-"], input=context.getvalue(), check=True,
                       capture_output=True)

    def module(self, arguments: dict) -> tuple[float, dict]:
        args_file = self.work / f"args-{uuid.uuid4().hex[:6]}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"insecure": False, **arguments}}))
        seconds, _cpu, done = timed([sys.executable, str(MODULE), str(args_file)], env=self.env)
        result = json.loads(done.stdout)
        if result.get("failed"):
            raise RuntimeError(f"the module failed: {result['msg']}")
        return seconds, result

    def main(self) -> dict:
        self.work.mkdir(parents=True)
        ca = CA("dockyard bench CA")
        port = bench_port(self.ip)
        try:
            with ScratchRegistry(f"dockyard-bench-sign-{uuid.uuid4().hex[:6]}", self.ip, port, self.work,
                                 certificate=ca.issue([self.ip])) as registry, \
                    certs_d_entry(registry.address, ca.pem):
                return self.measure(registry.address)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def measure(self, address: str) -> dict:
        load = wait_for_load()
        timings = {what: Timings() for what in ("push", "sign", "verify_signature", "verify_manifest", "pull")}
        sign = {"key_path": str(KEYS / "pipeline.key"), "password": "pw"}
        public_keys = [str(KEYS / "pipeline.pub")]
        for number in range(self.options.rounds):
            name = f"{address}/bench/signed"
            tag = f"round-{number}"
            self.build(f"{name}:{tag}")
            seconds, _cpu, _pushed = timed(["docker", "push", "--quiet", f"{name}:{tag}"])
            timings["push"].rounds.append(seconds)
            digest = run(["docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}",
                          f"{name}:{tag}"]).stdout.strip().split("@", 1)[1]
            seconds, signed = self.module({"name": f"{name}@{digest}", "state": "signed", "sign": sign})
            assert signed["changed"], signed
            timings["sign"].rounds.append(seconds)
            for verify, key in (("signature", "verify_signature"), ("manifest", "verify_manifest")):
                extra = {"public_keys": public_keys} if verify == "signature" else {}
                seconds, _result = self.module({"name": f"{name}@{digest}", "state": "verified", "verify": verify,
                                                "pull": False, **extra})
                timings[key].rounds.append(seconds)
            run(["docker", "image", "rm", "--force", f"{name}:{tag}"])
            seconds, _cpu, _pulled = timed(["docker", "pull", "--quiet", f"{name}@{digest}"])
            timings["pull"].rounds.append(seconds)
            run(["docker", "image", "rm", "--force", f"{name}@{digest}"])
            print(f"round {number + 1}: " + ", ".join(f"{what} {timing.rounds[-1]:.3f} s"
                                                      for what, timing in timings.items()), flush=True)
        return {"rounds": self.options.rounds, "layer_mib": self.options.layer_mib, "load": load,
                **{what: timing.as_dict() for what, timing in timings.items()}}


def report(results: dict) -> str:
    best, median = "best", "median"

    def row(what: str, key: str, against: str | None = None) -> str:
        ratio = f"{results[key][best] / results[against][best]:.2f}" if against else ""
        return f"| {what} | {results[key][best]:.3f} ({results[key][median]:.3f}) | {ratio} |"

    extra = results["verify_signature"][best] - results["verify_manifest"][best]
    lines = [
        "## Signatures: signing and checking one image, beside a push and a pull of it",
        "",
        (f"Generated by `make bench` (`bench/sign_bench.py`) on {results['when']}; raw figures in "
         "`bench/output/sign-results.json` (not committed). One image of one layer of "
         f"{results['layer_mib']} MiB of random data, a new one each of {results['rounds']} rounds, on a TLS registry "
         f"of the bench's own. Load average (1, 5, 15 min) before the rounds {load_text(results['load'])}."),
        "",
        "| step | seconds, best (median) | of the push (best) |",
        "| --- | --- | --- |",
        row("`docker push`", "push", "push"),
        row("`registry_image` `state: signed` (module process: key opened, signature written)", "sign", "push"),
        row("`registry_image` `verify: signature`, `pull: false` (module process)", "verify_signature", "push"),
        row("`registry_image` `verify: manifest`, `pull: false` (module process, for comparison)", "verify_manifest",
            "push"),
        row("`docker pull` by digest", "pull", "push"),
        "",
        (f"The signature check itself costs {extra * 1000:.0f} ms over the manifest check (best of each); signing "
         f"costs {results['sign'][best] / results['push'][best]:.2f} of a push and checking "
         f"{results['verify_signature'][best] / results['pull'][best]:.2f} of a pull. Of a module process, most is the "
         "interpreter's start and the manifest requests; what signing adds is almost all scrypt, which opens the cosign "
         "key slowly on purpose (about 0.19 s on this machine)."),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layer-mib", type=int, default=64)
    options = parser.parse_args()
    if not shutil.which("docker"):
        print("bench: docker is missing", file=sys.stderr)
        return 2
    if not registry_image_present():
        print(f"bench: the registry image {REGISTRY_IMAGE} is missing: make site builds it", file=sys.stderr)
        return 2
    try:
        results = Bench(options).main()
    except subprocess.CalledProcessError as exc:
        print(f"bench: {exc.cmd} failed: {exc.stderr}", file=sys.stderr)
        return 1
    save_results("signatures", OUTPUT / "sign-results.json", results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
