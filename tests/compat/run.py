"""Sanity and unit tests under every ansible-core minor release that ``meta/runtime.yml`` admits.

``requires_ansible`` is a claim: each minor release it admits is tested here, each in a virtualenv of its own
(``.venv-compat/ansible-core-<minor>``) on a Python that release supports as a controller (pyenv's, as these
machines have 3.11 to 3.13), with the libraries ``requirements.txt`` pins. The release ``requirements.txt`` pins
itself is the main virtualenv's, which ``make lint`` and ``make unit`` test: it is not tested twice.

For the oldest and the newest release: ``ansible-test sanity`` (every test, as ``make lint`` runs it) and the unit
tests that run the collection's plugins with ansible-core (``tests/unit/plugins``, the example inventories' preflight,
the role specs, and ``ansible-doc`` of every plugin and role). For the releases between them, the same but pylint and
``ansible-doc`` (each about a minute and a half on two cores): what changes between releases shows in
validate-modules, import, compile and the plugins' own tests, and the two ends bound pylint's rules. Each step prints
its wall time, and the run ends with a line per release.

On the oldest and the newest release, one molecule scenario (``airgap``, the smallest) runs too, with that release's
``ansible-playbook`` and the collections the main virtualenv carries: converge, idempotence and verify, and no
deprecation warning may appear in its output (facts read as top-level variables, say, which ansible-core 2.24 drops).

``--part checks`` runs the sanity and unit tests alone (no Docker), ``--part scenarios`` the scenarios alone,
``--part venvs`` only makes the virtualenvs. The scenario holds the lock file that ``make molecule`` holds for it
(``$MOLECULE_LOCK_DIR/dockyard-molecule-airgap.lock``), so that ``make test``'s two lanes never run it twice at once.

Usage (with the main virtualenv's Python, as ``make compat`` does):
python tests/compat/run.py [--only 2.17,2.21] [--part all|venvs|checks|scenarios] [--skip-sanity]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venv-compat"
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"

# The controller Pythons each minor release supports (ansible-core's support matrix), newest first: the newest
# that this machine has is used.
CONTROLLER_PYTHONS = {
    "2.17": ("3.12", "3.11", "3.10"),
    "2.18": ("3.13", "3.12", "3.11"),
    "2.19": ("3.13", "3.12", "3.11"),
    "2.20": ("3.14", "3.13", "3.12"),
    "2.21": ("3.14", "3.13", "3.12"),
}
# What the unit tests need besides ansible-core; versions come from requirements*.txt.
# pytest-testinfra for the molecule scenario's verifier, which runs the pytest first on PATH; redis for the cache
# module's tests; tomlkit for the tests of containerd's config.toml edit; pynacl for those of cosign's keys.
TEST_PACKAGES = ("docker", "requests", "cryptography", "bcrypt", "pytest", "pyyaml", "pytest-testinfra", "redis",
                 "tomlkit", "pynacl")
UNIT_TESTS = ("tests/unit/plugins", "tests/unit/test_role_specs.py", "tests/unit/test_example_inventory.py")
# Only on the oldest and the newest release (see above).
ENDS_ONLY_UNIT_TESTS = ("tests/unit/test_docs.py",)
ENDS_ONLY_SANITY_TESTS = ("pylint",)
ENDS_SCENARIO = "airgap"
MAIN_VENV = ROOT / ".venv"
DEPRECATION = re.compile(r"^\[DEPRECATION WARNING\]: .*$", re.MULTILINE)


def requires_ansible() -> SpecifierSet:
    return SpecifierSet(yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])


def requirements(*files: str) -> list[Requirement]:
    """The requirements of ``files`` (in the checkout), comments and options (``-r``) left out."""
    lines = (line.split("#", 1)[0].strip() for name in files for line in (ROOT / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def pinned(name: str) -> Version:
    for requirement in requirements("requirements.txt"):
        if requirement.name == name:
            (spec,) = requirement.specifier
            return Version(spec.version)
    raise SystemExit(f"requirements.txt pins no {name}")


def admitted_minors(specifier: SpecifierSet) -> list[str]:
    """The minor releases of the support matrix that requires_ansible admits (x.y.0 is admitted)."""
    minors = [minor for minor in CONTROLLER_PYTHONS if Version(f"{minor}.0") in specifier]
    newest = max(Version(minor) for minor in CONTROLLER_PYTHONS)
    if Version(f"{newest.major}.{newest.minor + 1}.0") in specifier:
        raise SystemExit(f"requires_ansible {specifier} admits releases after {newest}, which this matrix does not "
                         "test: give it an upper bound, or add the release to CONTROLLER_PYTHONS")
    return minors


def python_for(minor: str) -> Path:
    for version in CONTROLLER_PYTHONS[minor]:
        found = sorted(glob.glob(str(PYENV_VERSIONS / f"{version}.*" / "bin" / f"python{version}")))
        if found:
            return Path(found[-1])
    raise SystemExit(f"no Python for ansible-core {minor} (one of {', '.join(CONTROLLER_PYTHONS[minor])}) "
                     f"under {PYENV_VERSIONS}")


def test_pins() -> list[str]:
    """requirements.txt and requirements-test.txt lines of TEST_PACKAGES (to hold the versions)."""
    return [str(requirement) for requirement in requirements("requirements.txt", "requirements-test.txt")
            if requirement.name.lower() in TEST_PACKAGES]


def run(args: list, **kwargs) -> None:
    subprocess.run([str(arg) for arg in args], check=True, **kwargs)


def venv_for(minor: str, python: Path) -> Path:
    """The release's virtualenv, made again only when its Python or its packages changed."""
    venv = VENVS / f"ansible-core-{minor}"
    wanted = "\n".join([str(python), f"ansible-core=={minor}.*", *test_pins()]) + "\n"
    stamp = venv / ".installed"
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    run([python, "-m", "venv", "--clear", venv])
    run([venv / "bin" / "pip", "install", "--quiet", "--upgrade", "pip"])
    run([venv / "bin" / "pip", "install", "--quiet", f"ansible-core=={minor}.*", *test_pins()])
    stamp.write_text(wanted)
    return venv


@contextlib.contextmanager
def timed(label: str):
    started = time.monotonic()
    yield
    print(f"[compat] {label} passed in {time.monotonic() - started:.0f}s", flush=True)


def run_scenario(bin_dir: Path, env: dict) -> None:
    """The molecule scenario ENDS_SCENARIO with the release's Ansible (first on PATH); fails on a deprecation."""
    site_packages = next((MAIN_VENV / "lib").glob("python3*/site-packages"))
    env = {**env, "PATH": f"{bin_dir}:{MAIN_VENV / 'bin'}:{env['PATH']}",
           # The main virtualenv's community.docker and community.crypto (.config/molecule/config.yml adds them).
           "DOCKYARD_MOLECULE_EXTRA_COLLECTIONS": f":{site_packages}"}
    # make molecule runs the same scenario, on the same host names and addresses: one at a time (see the Makefile).
    lock = Path(os.environ.get("MOLECULE_LOCK_DIR", "/tmp")) / f"dockyard-molecule-{ENDS_SCENARIO}.lock"
    done = subprocess.run(["flock", lock, MAIN_VENV / "bin" / "molecule", "test", "--scenario-name", ENDS_SCENARIO],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if done.returncode != 0:
        print(done.stdout[-20000:], flush=True)
        raise SystemExit(f"molecule scenario {ENDS_SCENARIO} failed (exit {done.returncode})")
    warnings = DEPRECATION.findall(done.stdout)
    if warnings:
        raise SystemExit(f"molecule scenario {ENDS_SCENARIO} printed deprecation warnings:\n" + "\n".join(warnings))


# What each --part runs: the virtualenv is made (or found) by every part.
PARTS = {"all": {"checks", "scenarios"}, "venvs": set(), "checks": {"checks"}, "scenarios": {"scenarios"}}


def test_release(minor: str, sanity: bool, end: bool, steps: set[str]) -> str | None:
    """Sanity and unit tests (``checks``) under one minor release, all of them at an ``end`` of the range, and the
    scenario there (``scenarios``); returns its summary line, None where the release had nothing to run."""
    started = time.monotonic()
    python = python_for(minor)
    py_version = python.name.removeprefix("python")
    with timed(f"ansible-core {minor} virtualenv (Python {py_version})"):
        venv = venv_for(minor, python)
    checks, scenario = "checks" in steps, "scenarios" in steps and end
    if not (checks or scenario):
        return None
    bin_dir = venv / "bin"
    core = subprocess.run([bin_dir / "python", "-c", "import ansible.release; print(ansible.release.__version__)"],
                          check=True, capture_output=True, text=True).stdout.strip()
    env = {**os.environ, "PATH": f"{bin_dir}:{python.parent}:{os.environ['PATH']}"}
    if checks and sanity:
        with timed(f"ansible-core {core} sanity"):
            skipped = [] if end else [arg for test in ENDS_ONLY_SANITY_TESTS for arg in ("--skip-test", test)]
            run([ROOT / "tests" / "sanity" / "run.sh", *skipped], cwd=ROOT,
                env={**env, "BIN": str(bin_dir), "SANITY_PYTHON": py_version})
    if checks:
        with timed(f"ansible-core {core} unit"):
            tests = UNIT_TESTS + (ENDS_ONLY_UNIT_TESTS if end else ())
            run([bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env)
    if scenario:
        with timed(f"ansible-core {core} molecule scenario {ENDS_SCENARIO}"):
            run_scenario(bin_dir, env)
    scope = []
    if checks:
        scope.append("every test" if end else f"all but {', '.join(ENDS_ONLY_SANITY_TESTS + ENDS_ONLY_UNIT_TESTS)}")
    if scenario:
        scope.append(f"molecule scenario {ENDS_SCENARIO}")
    return (f"ansible-core {core} on Python {py_version} ({', '.join(scope)}): passed in "
            f"{time.monotonic() - started:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", help="comma-separated minor releases (default: every admitted one)")
    parser.add_argument("--part", choices=PARTS, default="all",
                        help="venvs: only make the virtualenvs; checks: sanity and unit tests; scenarios: the ends' "
                             "molecule scenario; all (default): checks and scenarios")
    parser.add_argument("--skip-sanity", action="store_true")
    options = parser.parse_args()

    main_release = f"{pinned('ansible-core').major}.{pinned('ansible-core').minor}"
    minors = admitted_minors(requires_ansible())
    ends = {minors[0], minors[-1]}
    if options.only:
        minors = [minor for minor in minors if minor in options.only.split(",")]
    steps = PARTS[options.part]
    summary = [(f"ansible-core {minor}: the main virtualenv's (make lint, make unit)" if "checks" in steps else None)
               if minor == main_release else test_release(minor, sanity=not options.skip_sanity, end=minor in ends,
                                                          steps=steps)
               for minor in minors]
    for line in filter(None, summary):
        print(f"[compat] {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
