"""playbooks/trust.yml: hosts in insecure mode go in batches, hosts in CA mode all at once.

The real playbook, on the controller alone: ``--tags registry_trust_batches`` runs its sorting task and, of the role's
plays, only their argument checks, which run on the controller; no host is connected to. Each batch of a serial play
is a play of its own in the json callback's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SORT = "Sort the Docker hosts into those changed all at once and those changed in batches"
AT_ONCE = "Make every Docker host trust the registry"
BATCHED = "Make every Docker host trust the registry, in batches"


def plays(tmp_path: Path, modes: dict[str, str | None], *extra: str) -> list[tuple[str, list[str], int]]:
    """Each play (each batch) that ran on hosts: its name, those hosts, and how many results were changed."""
    hosts = {name: {"ansible_connection": "local", **({"registry_trust_mode": mode} if mode else {})}
             for name, mode in modes.items()}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"docker_hosts": {"hosts": hosts}}}}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/trust.yml",
                          "--tags", "registry_trust_batches", "-e", f"registry_pki_dir={tmp_path}", *extra],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The fleet report, printed at the end as well, follows the json callback's document.
    result, _end = json.JSONDecoder().raw_decode(run.stdout, run.stdout.index("{"))
    started = []
    for play in result["plays"]:
        ran = sorted({host for task in play["tasks"] for host in task["hosts"]})
        changed = sum(1 for task in play["tasks"] for outcome in task["hosts"].values() if outcome.get("changed"))
        if ran:  # a play whose group is empty starts all the same, and runs on no host
            started.append((play["play"]["name"], ran, changed))
    return started


def test_hosts_in_ca_mode_run_at_once_and_hosts_in_insecure_mode_in_batches(tmp_path):
    modes = {"ca1": None, "ca2": "ca", **{f"insecure{n}": "insecure" for n in range(1, 6)}}
    started = plays(tmp_path, modes)
    assert started[0] == (SORT, sorted(modes), 0)  # sorting changes nothing
    assert started[1] == (AT_ONCE, ["ca1", "ca2"], 0)
    batches = [hosts for name, hosts, _changed in started[2:] if name == BATCHED]
    assert len(batches) == 5 == len(started) - 2  # 25% of five hosts: one a batch
    assert sorted(host for batch in batches for host in batch) == [f"insecure{n}" for n in range(1, 6)]


@pytest.mark.parametrize("mode", ["ca", "insecure"])
def test_a_batch_size_given_puts_every_host_in_batches_of_that_size(tmp_path, mode):
    modes = {f"host{n}": mode for n in range(1, 6)}
    started = plays(tmp_path, modes, "-e", "registry_trust_serial=2")
    assert [name for name, _hosts, _changed in started] == [SORT, BATCHED, BATCHED, BATCHED]
    assert [len(hosts) for _name, hosts, _changed in started[1:]] == [2, 2, 1]


def test_a_fleet_in_ca_mode_runs_in_one_play(tmp_path):
    modes = {f"host{n}": None for n in range(1, 5)}
    started = plays(tmp_path, modes)
    assert [(name, hosts) for name, hosts, _changed in started] == [(SORT, sorted(modes)), (AT_ONCE, sorted(modes))]
