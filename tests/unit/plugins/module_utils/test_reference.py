"""Image references parse as ``docker push``/``docker pull`` parse them, and bad ones say what is wrong."""

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._reference import (
    ImageReference,
    ReferenceFormatError,
    is_reference,
    parse_reference,
)

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32


@pytest.mark.parametrize(("text", "expected"), [
    ("registry.example.com:5000/team/app:1.0", ImageReference("registry.example.com:5000", "team/app", "1.0")),
    ("192.0.2.10:5000/app", ImageReference("192.0.2.10:5000", "app", "latest")),
    ("localhost/app:v2", ImageReference("localhost", "app", "v2")),
    ("registry:5000/a/b/c:x", ImageReference("registry:5000", "a/b/c", "x")),
    ("[2001:db8::1]:5000/team/app:1", ImageReference("[2001:db8::1]:5000", "team/app", "1")),
    ("[::1]/app", ImageReference("[::1]", "app", "latest")),
    (f"registry.example.com/app@{DIGEST}", ImageReference("registry.example.com", "app", None, DIGEST)),
    (f"registry.example.com/app:1.0@{DIGEST}", ImageReference("registry.example.com", "app", "1.0", DIGEST)),
    ("My.Registry/app", ImageReference("My.Registry", "app", "latest")),
    ("a.b/x__y.z-w--v/q:T_a.g-1", ImageReference("a.b", "x__y.z-w--v/q", "T_a.g-1")),
])
def test_parses_registry_repository_tag_and_digest(text, expected):
    assert parse_reference(text) == expected


@pytest.mark.parametrize(("text", "registry", "repository", "name"), [
    ("alpine", "docker.io", "library/alpine", "alpine"),
    ("team/app:1", "docker.io", "team/app", "team/app"),
    ("docker.io/alpine", "docker.io", "library/alpine", "alpine"),
    ("index.docker.io/team/app", "docker.io", "team/app", "team/app"),
    ("host:5000", "docker.io", "library/host", "host"),  # no slash: "5000" is a tag, as Docker reads it
])
def test_names_without_a_registry_normalise_to_docker_hub_like_docker(text, registry, repository, name):
    reference = parse_reference(text)
    assert (reference.registry, reference.repository, reference.name) == (registry, repository, name)


def test_string_form_round_trips_and_adds_latest_only_without_tag_or_digest():
    assert str(parse_reference("registry.example.com:5000/team/app")) == "registry.example.com:5000/team/app:latest"
    for text in ("registry.example.com:5000/team/app:1.0", f"registry.example.com:5000/team/app@{DIGEST}",
                 f"[2001:db8::1]:5000/app:1@{DIGEST}"):
        assert str(parse_reference(text)) == text


def test_tagged_is_name_and_tag_and_is_none_for_a_digest_only_reference():
    assert parse_reference("registry.example.com/team/app:1.0").tagged == "registry.example.com/team/app:1.0"
    assert parse_reference(f"registry.example.com/team/app@{DIGEST}").tagged is None


def test_manifest_reference_prefers_the_digest_over_the_tag():
    assert parse_reference("registry.example.com/app:1.0").manifest_reference == "1.0"
    assert parse_reference(f"registry.example.com/app:1.0@{DIGEST}").manifest_reference == DIGEST


def test_by_digest_drops_the_tag_and_keeps_the_repository():
    reference = parse_reference(f"registry.example.com:5000/team/app:1.0@{OTHER_DIGEST}").by_digest(DIGEST)
    assert reference == ImageReference("registry.example.com:5000", "team/app", None, DIGEST)
    assert str(reference) == f"registry.example.com:5000/team/app@{DIGEST}"


def test_by_digest_rejects_a_malformed_digest():
    with pytest.raises(ValueError, match="is not a valid digest"):
        parse_reference("registry.example.com/app:1").by_digest("sha256:abc")


@pytest.mark.parametrize(("text", "problem"), [
    ("", "it is empty"),
    ("registry.example.com/Team/app", "repository name 'Team/app' must be lower case"),
    ("App", "repository name 'App' must be lower case"),
    ("registry.example.com//app", "empty component"),
    ("registry.example.com/app/", "empty component"),
    ("registry.example.com/-app", "path component '-app'"),
    ("registry.example.com/app_", "path component 'app_'"),
    ("registry.example.com/a___b", "path component 'a___b'"),
    ("registry.example.com/app:", "the tag after ':' is empty"),
    ("registry.example.com/app:-1", "tag '-1' may hold only"),
    ("registry.example.com/app:a+b", "tag 'a+b' may hold only"),
    ("registry.example.com/app:" + "t" * 129, "the tag is 129 characters long, the limit is 128"),
    ("registry.example.com:0/app", "port '0' is not a number from 1 to 65535"),
    ("registry.example.com:65536/app", "port '65536'"),
    ("registry.example.com:/app", "port ''"),
    ("-registry.example.com/app", "registry host '-registry.example.com'"),
    ("registry_x.example.com/app", "registry host 'registry_x.example.com'"),
    ("[2001:db8::zz]:5000/app", "registry host '[2001:db8::zz]'"),
    ("[2001:db8:::1]:5000/app", "[2001:db8:::1] is not an IPv6 address"),
    ("registry.example.com/app@sha256:abc", "the part after '@' is not a digest"),
    ("registry.example.com/app@sha512:" + "a" * 128, "only the sha256 algorithm is supported"),
    ("registry.example.com/app@" + DIGEST.upper(), "not a digest"),
    ("a" * 64, "is an image ID, not a reference"),
    ("registry.example.com/" + "a" * 235, "the name is 256 characters long, the limit is 255"),
])
def test_rejects_with_a_message_that_says_what_is_wrong_and_what_a_reference_looks_like(text, problem):
    with pytest.raises(ReferenceFormatError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert problem in message
    assert message.startswith(f"{text!r} is not a valid image reference: ")
    assert "A reference looks like [registry[:port]/]path[:tag][@sha256:<64 hex>]" in message


def test_name_of_exactly_the_maximum_length_is_accepted():
    name = "registry.example.com/" + "a" * 234
    assert len(name) == 255
    assert parse_reference(name).repository == "a" * 234


def test_rejects_a_value_that_is_not_a_string():
    with pytest.raises(ReferenceFormatError, match="expected a string, got int"):
        parse_reference(5000)


def test_reference_error_is_a_value_error_and_keeps_the_input_and_problem():
    with pytest.raises(ValueError) as caught:
        parse_reference("App")
    assert (caught.value.reference, caught.value.problem) == ("App", "repository name 'App' must be lower case")


def test_is_reference_answers_without_raising():
    assert is_reference("registry.example.com:5000/team/app:1.0")
    assert not is_reference("registry.example.com:5000/Team/app")
    assert not is_reference(None)
