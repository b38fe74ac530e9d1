# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: tag retention, which tags and digests a repository keeps and why.

Pure: :func:`parse_rules` checks the rules before anything is asked of a registry, :func:`select` decides from what
the registry told (each tag's digest, each manifest's creation time and children) which digests go. Deletion is by
digest, so a digest goes only when no kept tag points to it, no kept image index lists it (at any depth), and it is
not the subject of a kept signature. Signature tags (cosign's ``sha256-<hex>.sig``, ``.att``, ``.sbom``) follow
their subject: kept while the digest they sign stays, deleted with it. A repository no rule matches is left alone.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import re

from ansible_collections.dockyard.registry.plugins.module_utils._reference import ImageReference
from ansible_collections.dockyard.registry.plugins.module_utils._registry import blobs
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import registry_credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import ManifestUnknownError

SIGNATURE_TAG = re.compile(r"sha256-([0-9a-f]{64})\.(sig|att|sbom)")
RULE_KEEPS = ("keep_newest", "keep_tags", "keep_days")
# A rule's options, as the modules that take rules declare them (registry_retention, registry_gc_schedule).
RULE_OPTIONS = {
    "repository": {"type": "str", "required": True},
    "keep_newest": {"type": "int"},
    "keep_tags": {"type": "list", "elements": "str"},
    "keep_days": {"type": "int"},
}


class RetentionRuleError(ValueError):
    """A rule cannot be used; the message names the option and the fix."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """Which repositories (a glob) and what of them stays; ``keep_tags`` are regular expressions matched whole."""

    repository: str
    keep_newest: int | None = None
    keep_tags: tuple[re.Pattern, ...] = ()
    keep_days: int | None = None

    def matches(self, repository: str) -> bool:
        return fnmatch.fnmatchcase(repository, self.repository)


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What retention needs of one manifest: when its image was made (None: unknown) and what it lists."""

    created: datetime.datetime | None = None
    children: tuple[str, ...] = ()


@dataclasses.dataclass
class Decision:
    """One tag: kept or not, and every reason it is kept."""

    tag: str
    digest: str
    reasons: list[str] = dataclasses.field(default_factory=list)

    @property
    def kept(self) -> bool:
        return bool(self.reasons)


@dataclasses.dataclass
class Plan:
    """A repository's decisions, and the digests to delete (each with the tags that go with it, and why)."""

    repository: str
    rule: str
    tags: list[Decision]
    delete: dict[str, str]  # digest -> why it goes
    listed: frozenset = frozenset()  # digests that an index of this repository lists: deleted after the indexes

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "kept": [{"tag": d.tag, "digest": d.digest, "reasons": d.reasons} for d in self.tags if d.kept],
            "deleted": [{"digest": digest, "tags": sorted(d.tag for d in self.tags if d.digest == digest),
                         "reason": why} for digest, why in sorted(self.delete.items())],
        }


def _glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable glob, or None. fnmatch reads an unclosed ``[`` as a literal: refused here."""
    if not pattern:
        return "it is empty"
    index = 0
    while index < len(pattern):
        if pattern[index] == "[":
            end = index + 1
            if end < len(pattern) and pattern[end] == "!":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            end = pattern.find("]", end)
            if end < 0:
                return f"the [ at position {index} is never closed"
            index = end
        index += 1
    return None


def parse_rules(rules) -> list[Rule]:
    """The rules as given to the module, checked all at once; raises naming every wrong option and its fix."""
    if not rules:
        raise RetentionRuleError("rules is empty: give at least one rule (repository, and keep_newest, keep_tags or "
                                 "keep_days); without rules nothing would say what to keep")
    problems, parsed = _checked(rules, "rules")
    if problems:
        raise RetentionRuleError("; ".join(problems) + ". Nothing was deleted.")
    return parsed


def rule_problems(rules, name: str = "rules") -> list[str]:
    """Why ``rules`` (as a user wrote them: any value) cannot be used, one message each, each naming ``name`` and
    the rule's option; none for an empty list or None, which set no rules."""
    if rules is None or rules == []:
        return []
    if not isinstance(rules, (list, tuple)):
        return [f"{name} must be a list of rules, not {type(rules).__name__} {rules!r}"]
    problems = []
    for number, rule in enumerate(rules):
        if not isinstance(rule, dict):
            problems.append(f"{name}[{number}] must be a mapping (repository, and keep_newest, keep_tags or "
                            f"keep_days), not {rule!r}")
            continue
        unknown = sorted(str(key) for key in rule if key not in RULE_OPTIONS)
        if unknown:
            problems.append(f"{name}[{number}] has options no rule takes: {', '.join(unknown)} (a rule takes "
                            f"{', '.join(RULE_OPTIONS)})")
        if not isinstance(rule.get("keep_tags") or [], (list, tuple)):
            problems.append(f"{name}[{number}].keep_tags must be a list of regular expressions, not "
                            f"{rule['keep_tags']!r}")
        if not isinstance(rule.get("repository") or "", str):
            problems.append(f"{name}[{number}].repository must be a string (a glob), not {rule['repository']!r}")
    if problems:
        return problems
    # As the modules' argument specs convert them: whole numbers written as strings are numbers.
    converted = [{**rule, **{key: int(rule[key]) for key in ("keep_newest", "keep_days")
                             if isinstance(rule.get(key), str) and rule[key].strip().isdigit()}} for rule in rules]
    return _checked(converted, name)[0]


def _checked(rules, name: str) -> tuple[list[str], list[Rule]]:
    """Every problem of ``rules`` (a list of mappings), naming ``name``, and the rules where there is none."""
    problems, parsed = [], []
    for number, rule in enumerate(rules):
        where = f"{name}[{number}]"
        repository = rule.get("repository")
        problem = _glob_problem(repository or "")
        if problem:
            problems.append(f"{where}.repository {repository!r} is not a valid glob: {problem}")
        if all(rule.get(key) is None for key in RULE_KEEPS):
            problems.append(f"{where} keeps nothing: give keep_newest, keep_tags or keep_days (keep_newest: 0 to "
                            "delete every tag of the repositories it matches)")
        for key in ("keep_newest", "keep_days"):
            value = rule.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                problems.append(f"{where}.{key} must be a whole number of 0 or more, not {value!r}")
        patterns = []
        for position, text in enumerate(rule.get("keep_tags") or []):
            try:
                patterns.append(re.compile(text))
            except (re.error, TypeError) as exc:
                problems.append(f"{where}.keep_tags[{position}] {text!r} is not a valid regular expression: {exc}")
        if not problems:
            parsed.append(Rule(repository, rule.get("keep_newest"), tuple(patterns), rule.get("keep_days")))
    return problems, parsed


def rule_for(rules: list[Rule], repository: str) -> Rule | None:
    """The first rule whose glob matches ``repository``."""
    return next((rule for rule in rules if rule.matches(repository)), None)


def created_of(manifest_digest: str, manifests: dict[str, Manifest], depth: int = 0) -> datetime.datetime | None:
    """When an image was made: its config's ``created``, for an index the newest of its platforms'."""
    manifest = manifests.get(manifest_digest)
    if manifest is None or depth > 4:
        return None
    times = [manifest.created] if manifest.created else []
    times += [created_of(child, manifests, depth + 1) for child in manifest.children]
    times = [time for time in times if time is not None]
    return max(times) if times else None


def _closure(digests, manifests: dict[str, Manifest]) -> set[str]:
    """``digests`` and everything their indexes list, at any depth."""
    seen, stack = set(), list(digests)
    while stack:
        digest = stack.pop()
        if digest in seen:
            continue
        seen.add(digest)
        stack.extend(manifests.get(digest, Manifest()).children)
    return seen


def select(repository: str, rule: Rule, tags: dict[str, str], manifests: dict[str, Manifest],
           now: datetime.datetime) -> Plan:
    """Decide for each tag (tag -> digest) of ``repository`` whether it stays, and which digests to delete."""
    signatures = {tag: digest for tag, digest in tags.items() if SIGNATURE_TAG.fullmatch(tag)}
    images = {tag: Decision(tag, digest) for tag, digest in tags.items() if tag not in signatures}
    created = {tag: created_of(d.digest, manifests) for tag, d in images.items()}

    for tag, decision in images.items():
        decision.reasons += [f"matches keep_tags '{p.pattern}'" for p in rule.keep_tags if p.fullmatch(tag)]
        if created[tag] is None:
            decision.reasons.append("its creation time is unknown")
        elif rule.keep_days is not None and now - created[tag] < datetime.timedelta(days=rule.keep_days):
            decision.reasons.append(f"created {created[tag].isoformat()}, within keep_days {rule.keep_days}")
    if rule.keep_newest:
        dated = sorted((tag for tag in images if created[tag] is not None), key=lambda t: (created[t], t), reverse=True)
        for rank, tag in enumerate(dated[:rule.keep_newest], 1):
            images[tag].reasons.append(f"newest {rank} of keep_newest {rule.keep_newest}")

    kept_by_rule = {d.digest: d.tag for d in images.values() if d.kept}
    needed = _closure(kept_by_rule, manifests)
    for decision in images.values():
        if decision.kept:
            continue
        if decision.digest in kept_by_rule:
            decision.reasons.append(f"same digest as kept tag {kept_by_rule[decision.digest]}")
        elif decision.digest in needed:
            decision.reasons.append("a platform of a kept multi-platform image")

    delete: dict[str, str] = {}
    for decision in sorted(images.values(), key=lambda d: d.tag):
        if decision.kept:
            continue
        for digest in sorted(_closure([decision.digest], manifests) - needed):
            delete.setdefault(digest, f"tag {decision.tag}" if digest == decision.digest
                              else f"a platform of {decision.digest} (tag {decision.tag})")
    for tag, digest in sorted(signatures.items()):
        subject = "sha256:" + SIGNATURE_TAG.fullmatch(tag).group(1)
        decision = Decision(tag, digest)
        if subject in delete and digest not in needed:
            delete.setdefault(digest, f"signature of deleted {subject}")
        else:
            decision.reasons.append(f"signature of {subject}, which stays")
            delete.pop(digest, None)
        images[tag] = decision
    listed = frozenset(child for manifest in manifests.values() for child in manifest.children)
    return Plan(repository, rule.repository, sorted(images.values(), key=lambda d: d.tag), delete, listed)


# Reading the registry and deleting: the registry client's part.

IMAGE_CONFIG_TYPES = ("application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json")


def parse_created(value) -> datetime.datetime | None:
    """An image config's ``created`` (RFC 3339, nanoseconds allowed) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


class Retention:
    """Plans retention for every repository of the catalog a rule matches, and deletes what the plans list."""

    def __init__(self, client, rules: list[Rule], now: datetime.datetime | None = None) -> None:
        self.client, self.rules = client, rules
        self.now = now or datetime.datetime.now(datetime.timezone.utc)

    def plan(self) -> list[Plan]:
        plans = []
        for repository in sorted(self.client.catalog()):
            rule = rule_for(self.rules, repository)
            if rule is None:
                continue
            tags = self._tags(repository)
            if tags:
                plans.append(select(repository, rule, tags, self._manifests(repository, set(tags.values())), self.now))
        return plans

    def delete(self, plans: list[Plan], deleted: list[str] | None = None) -> list[str]:
        """Delete every digest the plans list, indexes before their platforms; returns what was deleted. ``deleted``,
        where given, is the list each deletion is added to as it happens: a run that fails half-way still has it."""
        deleted = [] if deleted is None else deleted
        for plan in plans:
            for digest in sorted(plan.delete, key=lambda d: (d in plan.listed, d)):
                if self.client.delete_manifest(plan.repository, digest):
                    deleted.append(f"{plan.repository}@{digest}")
        return deleted

    def _tags(self, repository: str) -> dict[str, str]:
        tags = {}
        for tag in self.client.tags(repository):
            try:
                tags[tag] = self.client.head_manifest(self._reference(repository, tag=tag))
            except ManifestUnknownError:
                continue  # deleted meanwhile
        return tags

    def _reference(self, repository: str, tag: str | None = None, digest: str | None = None):
        return ImageReference(self.client.registry, repository, tag, digest)

    def _manifests(self, repository: str, digests: set[str]) -> dict[str, Manifest]:
        """Each manifest of ``digests`` and, through indexes, of their platforms: creation time and children."""
        found: dict[str, Manifest] = {}
        stack = list(digests)
        while stack:
            digest = stack.pop()
            if digest in found:
                continue
            served = self.client.get_manifest(self._reference(repository, digest=digest))
            content = blobs.load_manifest(served.content, f"manifest {repository}@{digest}")
            if blobs.is_index(content, served.media_type):
                children = tuple(child.digest for child in blobs.select_children(content, digest, None))
                found[digest] = Manifest(None, children)
                stack.extend(children)
                continue
            config = content.get("config") if isinstance(content.get("config"), dict) else {}
            created = None
            if config.get("mediaType") in IMAGE_CONFIG_TYPES and config.get("digest"):
                created = parse_created(self.client.get_json_blob(repository, config["digest"]).get("created"))
            found[digest] = Manifest(created)
        return found


def run_retention(params: dict, check_mode: bool) -> dict:
    """The module's work: rules checked first, then the plan read from the registry, then the deletes."""

    rules = parse_rules(params["rules"])
    credentials = registry_credentials(params["registry"], params["username"], params["password"])
    with RegistryClient(params["registry"], ca_path=params["ca_path"], timeout=params["timeout"],
                        insecure=params["insecure"], credentials=credentials) as client:
        retention = Retention(client, rules)
        plans = retention.plan()
        planned = [f"{plan.repository}@{digest}" for plan in plans for digest in sorted(plan.delete)]
        deleted = planned if check_mode else retention.delete(plans)
    before = {plan.repository: sorted(d.tag for d in plan.tags) for plan in plans}
    after = {plan.repository: sorted(d.tag for d in plan.tags if d.kept) for plan in plans}
    return {
        "changed": bool(deleted),
        "deleted": deleted,
        "repositories": {plan.repository: plan.as_dict() for plan in plans},
        "diff": {"before": before, "after": after, "before_header": f"tags of {params['registry']}",
                 "after_header": f"tags of {params['registry']} after retention"},
    }
