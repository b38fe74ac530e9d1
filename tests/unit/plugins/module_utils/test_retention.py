"""Which tags and digests retention keeps, and why: the rules checked, then the selection on a repository's tags."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention import (
    Manifest,
    RetentionRuleError,
    parse_created,
    parse_rules,
    rule_for,
    select,
)

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def digest(name: str) -> str:
    return "sha256:" + (name.encode().hex() * 64)[:64]


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def plan_for(rule: dict, tags: dict[str, str], manifests: dict[str, Manifest]):
    (parsed,) = parse_rules([{"repository": "team/*", **rule}])
    return select("team/app", parsed, tags, manifests, NOW)


def kept(plan) -> dict[str, list[str]]:
    return {d.tag: d.reasons for d in plan.tags if d.kept}


# Rules


@pytest.mark.parametrize("rules, message", [
    ([], "rules is empty"),
    (None, "rules is empty"),
    ([{"repository": "team/[abc", "keep_newest": 1}], "rules[0].repository 'team/[abc' is not a valid glob"),
    ([{"repository": "", "keep_newest": 1}], "rules[0].repository '' is not a valid glob: it is empty"),
    ([{"repository": "a", "keep_newest": -1}], "rules[0].keep_newest must be a whole number of 0 or more, not -1"),
    ([{"repository": "a", "keep_days": -3}], "rules[0].keep_days must be a whole number of 0 or more, not -3"),
    ([{"repository": "a", "keep_tags": ["v(1"]}], "rules[0].keep_tags[0] 'v(1' is not a valid regular expression"),
    ([{"repository": "a"}], "rules[0] keeps nothing: give keep_newest, keep_tags or keep_days"),
])
def test_bad_rules_are_refused_naming_the_option(rules, message):
    with pytest.raises(RetentionRuleError) as caught:
        parse_rules(rules)
    assert message in str(caught.value)
    assert str(caught.value).endswith("Nothing was deleted.") or message == "rules is empty"


def test_every_bad_rule_is_named_at_once():
    with pytest.raises(RetentionRuleError) as caught:
        parse_rules([{"repository": "a", "keep_newest": -1}, {"repository": "b[", "keep_tags": ["("]}])
    text = str(caught.value)
    assert "rules[0].keep_newest" in text and "rules[1].repository" in text and "rules[1].keep_tags[0]" in text


def test_a_closed_bracket_glob_and_keep_newest_zero_are_valid():
    rules = parse_rules([{"repository": "team/[ab]*", "keep_newest": 0}, {"repository": "*", "keep_days": 7}])
    assert rule_for(rules, "team/app").repository == "team/[ab]*"
    assert rule_for(rules, "other/x").repository == "*"  # the first rule that matches decides
    assert rule_for(parse_rules([{"repository": "team/*", "keep_days": 1}]), "base/debian") is None


def test_created_is_read_with_nanoseconds_and_zulu():
    assert parse_created("2026-11-30T10:00:00.123456789Z") == datetime.datetime(
        2026, 11, 30, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert parse_created("not a date") is None
    assert parse_created(None) is None


# Selection


def test_keep_newest_keeps_the_newest_by_creation_time_and_deletes_the_rest():
    tags = {f"1.{n}": digest(f"d{n}") for n in range(5)}
    manifests = {digest(f"d{n}"): Manifest(days_ago(10 - n)) for n in range(5)}
    plan = plan_for({"keep_newest": 2}, tags, manifests)
    assert kept(plan) == {"1.4": ["newest 1 of keep_newest 2"], "1.3": ["newest 2 of keep_newest 2"]}
    assert sorted(plan.delete) == sorted(digest(f"d{n}") for n in range(3))
    assert plan.delete[digest("d0")] == "tag 1.0"


def test_keep_tags_and_keep_days_each_keep_with_their_reason():
    tags = {"latest": digest("a"), "v1.0.0": digest("b"), "dev-7": digest("c"), "dev-8": digest("d")}
    manifests = {digest("a"): Manifest(days_ago(100)), digest("b"): Manifest(days_ago(200)),
                 digest("c"): Manifest(days_ago(40)), digest("d"): Manifest(days_ago(3))}
    plan = plan_for({"keep_tags": ["latest", r"v\d+\.\d+\.\d+"], "keep_days": 30}, tags, manifests)
    assert kept(plan) == {"latest": ["matches keep_tags 'latest'"], "v1.0.0": [r"matches keep_tags 'v\d+\.\d+\.\d+'"],
                          "dev-8": [f"created {days_ago(3).isoformat()}, within keep_days 30"]}
    assert list(plan.delete) == [digest("c")]


def test_keep_tags_match_the_whole_tag():
    plan = plan_for({"keep_tags": ["v1"]}, {"v1": digest("a"), "v10": digest("b")},
                    {digest("a"): Manifest(days_ago(5)), digest("b"): Manifest(days_ago(5))})
    assert list(kept(plan)) == ["v1"]
    assert list(plan.delete) == [digest("b")]


def test_a_digest_a_kept_tag_points_to_stays_with_every_tag_of_it():
    tags = {"1.0": digest("a"), "stable": digest("a"), "0.9": digest("b")}
    manifests = {digest("a"): Manifest(days_ago(50)), digest("b"): Manifest(days_ago(60))}
    plan = plan_for({"keep_tags": ["stable"]}, tags, manifests)
    assert kept(plan) == {"1.0": ["same digest as kept tag stable"], "stable": ["matches keep_tags 'stable'"]}
    assert list(plan.delete) == [digest("b")]


def test_an_index_is_as_new_as_its_newest_platform_and_keeps_its_platforms():
    arm, amd = digest("arm"), digest("amd")
    tags = {"multi": digest("index"), "old": digest("old"), "amd-only": amd}
    manifests = {digest("index"): Manifest(None, (amd, arm)), amd: Manifest(days_ago(90)), arm: Manifest(days_ago(1)),
                 digest("old"): Manifest(days_ago(2))}
    plan = plan_for({"keep_newest": 1}, tags, manifests)
    # The index was made a day ago (its arm64 platform), so it is the newest; its amd64 platform stays under any tag.
    assert kept(plan) == {"multi": ["newest 1 of keep_newest 1"], "amd-only": ["a platform of a kept multi-platform image"]}
    assert list(plan.delete) == [digest("old")]


def test_a_deleted_index_takes_its_platforms_unless_something_kept_needs_them():
    arm, amd, shared = digest("arm"), digest("amd"), digest("shared")
    tags = {"old-multi": digest("i1"), "new-multi": digest("i2")}
    manifests = {digest("i1"): Manifest(None, (amd, shared)), digest("i2"): Manifest(None, (arm, shared)),
                 amd: Manifest(days_ago(90)), arm: Manifest(days_ago(1)), shared: Manifest(days_ago(80))}
    plan = plan_for({"keep_newest": 1}, tags, manifests)
    assert list(kept(plan)) == ["new-multi"]
    assert plan.delete == {digest("i1"): "tag old-multi", amd: f"a platform of {digest('i1')} (tag old-multi)"}
    assert amd in plan.listed and digest("i1") not in plan.listed


def test_signatures_follow_their_subject():
    keep, drop = digest("keep"), digest("drop")
    tags = {"1.1": keep, "1.0": drop,
            f"sha256-{keep[7:]}.sig": digest("sig-keep"), f"sha256-{keep[7:]}.att": digest("att-keep"),
            f"sha256-{drop[7:]}.sig": digest("sig-drop"),
            f"sha256-{digest('untagged')[7:]}.sig": digest("sig-untagged")}
    manifests = {keep: Manifest(days_ago(1)), drop: Manifest(days_ago(9)),
                 **{digest(n): Manifest(days_ago(0)) for n in ("sig-keep", "att-keep", "sig-drop", "sig-untagged")}}
    plan = plan_for({"keep_newest": 1}, tags, manifests)
    # Signature tags are no tags of their own: they neither count for keep_newest nor get kept by age.
    assert kept(plan)["1.1"] == ["newest 1 of keep_newest 1"]
    assert kept(plan)[f"sha256-{keep[7:]}.sig"] == [f"signature of {keep}, which stays"]
    assert f"sha256-{keep[7:]}.att" in kept(plan)
    # The signature of something retention does not delete (an untagged manifest) stays too.
    assert f"sha256-{digest('untagged')[7:]}.sig" in kept(plan)
    assert plan.delete == {drop: "tag 1.0", digest("sig-drop"): f"signature of deleted {drop}"}


def test_an_image_without_a_creation_time_is_never_deleted_for_its_age():
    plan = plan_for({"keep_newest": 1, "keep_days": 1}, {"a": digest("a"), "b": digest("b"), "c": digest("c")},
                    {digest("a"): Manifest(None), digest("b"): Manifest(days_ago(10)), digest("c"): Manifest(days_ago(20))})
    assert kept(plan) == {"a": ["its creation time is unknown"], "b": ["newest 1 of keep_newest 1"]}
    assert list(plan.delete) == [digest("c")]


def test_keep_newest_zero_deletes_every_tag():
    plan = plan_for({"keep_newest": 0}, {"a": digest("a"), "b": digest("b")},
                    {digest("a"): Manifest(days_ago(1)), digest("b"): Manifest(days_ago(2))})
    assert kept(plan) == {}
    assert sorted(plan.delete) == sorted([digest("a"), digest("b")])


def test_what_is_kept_keeps_itself_on_a_second_run():
    tags = {f"t{n}": digest(f"d{n}") for n in range(6)}
    manifests = {digest(f"d{n}"): Manifest(days_ago(n * 10)) for n in range(6)}
    rule = {"keep_newest": 2, "keep_tags": ["t5"], "keep_days": 15}
    first = plan_for(rule, tags, manifests)
    remaining = {tag: d for tag, d in tags.items() if d not in first.delete}
    second = plan_for(rule, remaining, manifests)
    assert second.delete == {}
    assert sorted(remaining) == ["t0", "t1", "t5"]


# The check of rules as a user wrote them (the retention_rule_problems filter, before anything changes)


@pytest.mark.parametrize("rules, message", [
    ("keep everything", "registry_server_retention_rules must be a list of rules, not str 'keep everything'"),
    ({"repository": "*"}, "registry_server_retention_rules must be a list of rules, not dict"),
    (["team/*"], "registry_server_retention_rules[0] must be a mapping (repository, and keep_newest"),
    ([{"repository": "*", "keep_last": 3}], "registry_server_retention_rules[0] has options no rule takes: keep_last"),
    ([{"repository": "*", "keep_tags": "latest"}], "registry_server_retention_rules[0].keep_tags must be a list"),
    ([{"repository": 5, "keep_newest": 1}], "registry_server_retention_rules[0].repository must be a string"),
    ([{"repository": "*", "keep_newest": -2}], "registry_server_retention_rules[0].keep_newest must be a whole number"),
    ([{"repository": "*", "keep_newest": "five"}], "registry_server_retention_rules[0].keep_newest must be a whole"),
    ([{"repository": "*"}], "registry_server_retention_rules[0] keeps nothing"),
    ([{"repository": "x", "keep_newest": 1}, {"repository": "[a", "keep_tags": ["("]}],
     "registry_server_retention_rules[1].repository '[a' is not a valid glob"),
])
def test_rules_as_written_are_checked_naming_the_variable(rules, message):
    from ansible_collections.dockyard.registry.plugins.filter.retention import retention_rule_problems

    problems = retention_rule_problems(rules, "registry_server_retention_rules")
    assert any(problem.startswith(message) for problem in problems), problems


def test_rules_that_can_be_used_and_no_rules_have_no_problems():
    from ansible_collections.dockyard.registry.plugins.filter.retention import retention_rule_problems

    assert retention_rule_problems([]) == [] and retention_rule_problems(None) == []
    # Whole numbers written as strings, as the modules' argument specs convert them.
    assert retention_rule_problems([{"repository": "team/*", "keep_newest": "5", "keep_tags": ["v\\d+"],
                                     "keep_days": 14}]) == []
    # Both problems of the second rule at once, each named.
    both = retention_rule_problems([{"repository": "x", "keep_newest": 1}, {"repository": "[a", "keep_tags": ["("]}])
    assert [problem.split(" ", maxsplit=1)[0] for problem in both] == ["rules[1].repository", "rules[1].keep_tags[0]"]
