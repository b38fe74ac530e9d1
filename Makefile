# dockyard.registry — the two commands of the README, and the parts they are made of.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/dockyard/registry
COLLECTION_DEPS := .collections/ansible_collections/community/docker
INVENTORY ?= inventories/local/hosts.yml
DOCS_BUILD := docs/build
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The suite must trust only what it is told to trust.
unexport REQUESTS_CA_BUNDLE

.PHONY: help venv test-venv site test test-lane lint lint-deps changelog unit unit-deps prometheus-deps compat \
	docs docs-deps docs-test integration engine test-deps test-images molecule bench clean

help:
	@echo "make site   deploy, trust and exercise the registry on $(INVENTORY)"
	@echo "make test   the whole test suite (lint, unit, compat, docs-test beside integration, molecule)"
	@echo "make docs   the collection's documentation site, in $(DOCS_BUILD)/html"

# What the controller needs to run the collection (make site): requirements.txt alone. The test tools come on top
# of it for the targets of make test.
$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.test-installed: $(BIN)/.installed requirements-test.txt requirements-docs.txt
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

# Beside it, the virtualenv's community.docker, whose plugin utilities a filter of the collection imports: the tools
# that see .collections alone (the compat releases' unit tests and ansible-test sanity) find it there.
$(COLLECTION_DEPS): $(BIN)/.installed
	mkdir -p $(dir $@)
	ln -sfn "$$($(BIN)/python -c 'import sys, ansible_collections.community.docker as c; sys.stdout.write(list(c.__path__)[0])')" $@

venv: $(BIN)/.installed $(COLLECTION_LINK) $(COLLECTION_DEPS)

test-venv: venv $(BIN)/.test-installed

site: venv
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml

# The suite's own needs: a Docker engine (installed and started by the collection's own role) and skopeo.
engine: venv
	$(BIN)/ansible-playbook -i inventories/local/hosts.yml playbooks/engine.yml

test-deps: engine unit-deps
	@command -v skopeo >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo; }

# ansible-lint and antsibull-changelog run ansible-doc and ansible-galaxy: they must find the virtualenv's.
# antsibull-docs lint-collection-docs checks the plugins' and roles' documentation and the guides of docs/docsite, and
# references within the collection; checking references to other collections too would load the documentation of
# every collection the ansible package carries (minutes).
lint: test-venv lint-deps
	$(BIN)/ruff check .
	$(BIN)/yamllint --strict .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --offline
	$(BIN)/antsibull-changelog lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs .
	BIN="$(CURDIR)/$(BIN)" tests/sanity/run.sh

# ansible-test's shellcheck test passes with a mere warning when the program is missing.
lint-deps:
	@command -v shellcheck >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; }

# CHANGELOG.md and changelogs/changelog.yaml from the fragments, for the version in galaxy.yml
# (tests/unit/test_changelog.py fails when they are stale).
changelog: test-venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-changelog release --reload-plugins --refresh

# The certificate checks run again under the host's Python with Debian's cryptography, the oldest the probe takes.
unit: test-venv unit-deps
	$(BIN)/pytest -q tests/unit

# Sanity and the plugins' unit tests on every other ansible-core minor release that meta/runtime.yml admits (all of them on
# the oldest and the newest, all but pylint and ansible-doc between), each in a
# virtualenv of its own (.venv-compat/) on a Python that release supports (pyenv's); prints each step's wall time.
# COMPAT_RELEASES="2.17,2.21" runs some of them.
COMPAT_ONLY = $(if $(COMPAT_RELEASES),--only $(COMPAT_RELEASES))
compat: test-venv lint-deps unit-deps test-images
	$(BIN)/python tests/compat/run.py $(COMPAT_ONLY)

# tests/unit/plugins/modules/test_registry_cache.py runs Debian's redis-server with the configuration the module writes;
# tests/unit/test_backup_bucket_listing.py Debian's rclone, as the backup of a bucket does.
unit-deps: prometheus-deps
	@/usr/bin/python3 -c 'import cryptography, pytest, yaml' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-cryptography python3-pytest python3-yaml; }
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; }
	@command -v rclone >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rclone; }

# Debian's prometheus package: tests/unit/test_prometheus.py runs its promtool on the shipped alert rules, and the
# molecule scenario default its prometheus, which scrapes the deployed registry. Its own service is not started (no
# init system here, or policy-rc.d); the tests start prometheus themselves.
prometheus-deps:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

# The collection's documentation site, as the Ansible documentation site builds it for every collection: antsibull-docs
# writes a page for every module, plugin and role (every entry point) and the guides of docs/docsite, which
# scripts/docsite_guides.py makes from docs/guides/; Sphinx renders them, any warning failing the build.
docs: test-venv
	$(BIN)/python scripts/docsite_guides.py --check
	rm -rf $(DOCS_BUILD)/rst $(DOCS_BUILD)/html
	mkdir -p $(DOCS_BUILD)/rst
	chmod go-w $(DOCS_BUILD)/rst  # antsibull-docs refuses a destination others may write to
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-docs --config-file docs/sphinx/antsibull-docs.cfg collection \
	  --use-current --squash-hierarchy --fail-on-error --dest-dir $(DOCS_BUILD)/rst dockyard.registry
	$(BIN)/sphinx-build -q -b html -W --keep-going -c docs/sphinx $(DOCS_BUILD)/rst $(DOCS_BUILD)/html
	@echo "Documentation site: $(DOCS_BUILD)/html/index.html"

docs-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# The built site in headless Chromium (tests/docs): every page renders, no internal link is broken; a screenshot of
# the index page goes to $(DOCS_BUILD)/screenshots/.
docs-test: docs docs-deps
	$(BIN)/pytest -q tests/docs

# test_docker_daemon_config.py runs Docker hosts from the molecule host image (test-images).
integration: test-venv test-deps test-images
	$(BIN)/pytest -q tests/integration

# The molecule scenarios' images (tests/images/build.py): the Docker host image and the registry image archive,
# each built again only when its recipe changes; a rerun costs a second.
test-images: test-venv engine
	$(BIN)/python tests/images/build.py

# Every molecule scenario (molecule/<scenario>/), each on Docker hosts that run their own dockerd; prints each
# scenario's wall time. MOLECULE_SCENARIOS="airgap" runs some of them. A scenario's hosts have fixed names and
# addresses, so one scenario runs once at a time on this machine: each holds the lock file
# $(MOLECULE_LOCK_DIR)/dockyard-molecule-<scenario>.lock while it runs, as compat's runs of airgap do.
MOLECULE_SCENARIOS ?= $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))
MOLECULE_LOCK_DIR ?= /tmp
export MOLECULE_LOCK_DIR
molecule: test-venv test-images prometheus-deps
	@all_started=$$(date +%s); \
	for scenario in $(MOLECULE_SCENARIOS); do \
	  started=$$(date +%s); \
	  PATH="$(CURDIR)/$(BIN):$$PATH" flock "$(MOLECULE_LOCK_DIR)/dockyard-molecule-$$scenario.lock" \
	    $(BIN)/molecule test --scenario-name "$$scenario" || exit 1; \
	  echo "molecule scenario $$scenario passed in $$(( $$(date +%s) - started ))s"; \
	done; \
	echo "molecule: every scenario passed in $$(( $$(date +%s) - all_started ))s"

# make test: everything is installed first (the virtualenv, Debian packages, the Docker engine and the test images);
# then two lanes run side by side, each printing its lines under its name and each part's wall time. The checks are
# mostly CPU (lint, unit, compat, docs-test); the fleet lane waits mostly on containers and daemons (integration,
# molecule), and would leave one of two cores idle on its own. The lanes share the installed tools and this machine's
# Docker: the checks use free loopback ports and temporary directories, and compat's one scenario (airgap, with the
# oldest and the newest ansible-core) waits for molecule's run of the same scenario, or molecule for it (a lock per
# scenario). The run fails when either lane does, after both end; each lane's output is kept in TEST_LOG_DIR, and a
# failed lane's failure lines and last lines are printed again at the end, where a CI log's tail shows them.
TEST_CHECKS := lint unit compat docs-test
TEST_FLEET := integration molecule
TEST_LOG_DIR ?= .cache/test-logs
test: test-venv test-deps lint-deps unit-deps docs-deps test-images
	@set -o pipefail; started=$$(date +%s); mkdir -p $(TEST_LOG_DIR); \
	( $(MAKE) --no-print-directory test-lane LANE="$(TEST_CHECKS)" 2>&1 | sed -u 's/^/[checks] /' \
	  | tee $(TEST_LOG_DIR)/checks.log ) & checks=$$!; \
	( $(MAKE) --no-print-directory test-lane LANE="$(TEST_FLEET)" 2>&1 | sed -u 's/^/[fleet] /' \
	  | tee $(TEST_LOG_DIR)/fleet.log ); fleet=$$?; \
	wait $$checks; checks=$$?; \
	verdict() { [ "$$1" = 0 ] && echo passed || echo "FAILED (exit $$1)"; }; \
	for ended in checks=$$checks fleet=$$fleet; do \
	  lane=$${ended%=*}; [ "$${ended#*=}" = 0 ] && continue; \
	  echo "==== why the $$lane lane failed: its failure lines, then its last 40 lines ($(TEST_LOG_DIR)/$$lane.log) ===="; \
	  grep -E "FAILED|ERROR|fatal:|failed=[1-9]|Traceback|^\\[$$lane\\] E " $(TEST_LOG_DIR)/$$lane.log | tail -n 60; \
	  echo "----"; tail -n 40 $(TEST_LOG_DIR)/$$lane.log; \
	done; \
	echo "make test: checks lane $$(verdict $$checks), fleet lane $$(verdict $$fleet), in $$(( $$(date +%s) - started ))s"; \
	[ "$$checks" = 0 ] && [ "$$fleet" = 0 ]

# The parts in LANE one after the other, each with its wall time; the first that fails ends the lane.
test-lane:
	@for part in $(LANE); do \
	  started=$$(date +%s); \
	  $(MAKE) --no-print-directory $$part || { echo "make $$part FAILED after $$(( $$(date +%s) - started ))s"; exit 1; }; \
	  echo "make $$part passed in $$(( $$(date +%s) - started ))s"; \
	done

# The benchmarks, each script writing its own section of bench/RESULTS.md (bench/output/ keeps the raw figures). Not
# part of test: it takes about a quarter of an hour, and 1.4 GB of disk under bench/output while it runs. Every
# deployment it measures is one of its own (ports 5300-5349, containers dockyard-bench-*): it never touches the
# registry that make site deploys. Each script first waits, up to BENCH_LOAD_WAIT seconds (600), for the 1-minute load
# average to fall to BENCH_MAX_LOAD (1.5), and records it. site_bench.py comes first: its first site.yml run builds the
# registry image where it is missing. ha_bench.py runs the molecule scenario ha (about 5 minutes) for its failure
# figures. fleet_bench.py reaches its 2 to 16 hosts with docker exec; fleet_ssh_bench.py reaches three Debian 12 and 13
# hosts over SSH (as the molecule scenario runtimes does) and then with docker exec, and names the transport beside
# each figure. BENCH_SCRIPTS="fleet_ssh_bench" runs some of the scripts.
BENCH_SCRIPTS ?= site_bench fleet_bench fleet_ssh_bench verify_blobs sign_bench move_bench ha_bench
bench: test-venv test-deps test-images
	@for script in $(BENCH_SCRIPTS); do \
	  $(BIN)/python bench/$$script.py || exit 1; \
	done

clean:
	rm -rf $(VENV) .venv-compat .collections .pytest_cache .ruff_cache $(DOCS_BUILD)
