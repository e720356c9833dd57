"""Contributions (signed, shares never over 100 %, flowing from parent models) and
licence obligations along the lineage (non-commercial, no-derivatives, share-alike,
attribution, unknown), as facts a policy gate refuses a deployment on."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrail import Role, Trail
from fairtrail.errors import InputError
from fairtrail.lifecycle.contributions import contribute, contributions_of
from fairtrail.lifecycle.datasets import prepare_dataset, record_dataset
from fairtrail.lifecycle.licences import check_licences, licence_choices
from fairtrail.lifecycle.models import resolve_model
from tests.cli.test_cli import assert_user_error, ft


def _trail(root: Path) -> Trail:
    trail = Trail.init(root / "trail")
    admin = trail.actor_key("admin")
    for name, role in [("dana", Role.DATA_STEWARD), ("mo", Role.ML_ENGINEER),
                       ("ana", Role.ML_ENGINEER), ("ops", Role.OPERATOR)]:  # fmt: skip
        trail.create_actor(name, [role], admin)
    return trail


def _dataset(trail: Trail, root: Path, name: str, licence: str) -> str:
    """Records the dataset; returns its ALG:HEX digest."""
    path = root / f"{name}.csv"
    path.write_text("x,y,source\n" + "".join(f"{i},{i % 2},{name}\n" for i in range(20)))
    prepared = prepare_dataset(path, name=name, source="a source", license=licence)
    receipt = record_dataset(trail, prepared, trail.actor_key("dana"))
    return "sha256:" + receipt.statement.subject[0].digest["sha256"]


def _model(trail: Trail, root: Path, name: str, datasets: list[str], **terms: object) -> str:
    artifact = root / name
    artifact.mkdir()
    (artifact / "weights.txt").write_text(name * 10)
    code_license = terms.pop("code_license", None)
    with trail.run(name, datasets=datasets, seed=1, signer=trail.actor_key("mo"),
                   code_license=code_license) as run:  # type: ignore[arg-type]  # fmt: skip
        run.log_metric("accuracy", 0.9)
        run.log_model(artifact, name=name, **terms)  # type: ignore[arg-type]
    return name


def test_licence_expressions_become_choices() -> None:
    assert licence_choices("MIT OR GPL-3.0-only") == [{"MIT"}, {"GPL-3.0-only"}]
    assert sorted(map(sorted, licence_choices("Apache-2.0 AND (MIT OR CC0-1.0)"))) == [
        ["Apache-2.0", "CC0-1.0"], ["Apache-2.0", "MIT"]]  # fmt: skip
    assert licence_choices("GPL-2.0-only WITH Classpath-exception-2.0") == [{"GPL-2.0-only"}]
    with pytest.raises(InputError, match="not a valid SPDX"):
        licence_choices("MIT AND AND")


def test_each_obligation_is_reported_with_its_path(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    _dataset(trail, tmp_path, "clean", "CC0-1.0")
    nc = _dataset(trail, tmp_path, "nc", "CC-BY-NC-4.0")
    sa = _dataset(trail, tmp_path, "sa", "CC-BY-SA-4.0")
    nd = _dataset(trail, tmp_path, "nd", "CC-BY-ND-4.0")
    _dataset(trail, tmp_path, "anon", "CC-BY-4.0")
    either = _dataset(trail, tmp_path, "either", "CC-BY-NC-4.0 OR MIT")
    _model(trail, tmp_path, "ok", ["clean", "either"], license="Apache-2.0")
    ok = resolve_model(trail, "ok")
    assert [c.kind for c in check_licences(trail, ok)] == ["attribution"]  # MIT: credit it
    contribute(trail, ok, "data", either, None, trail.actor_key("dana"))
    assert check_licences(trail, ok) == []
    _model(trail, tmp_path, "bad", ["nc", "sa", "nd", "anon"], use="commercial",
           code_license="GPL-3.0-only")  # fmt: skip
    bad = resolve_model(trail, "bad")
    for credit in (nc, sa, nd):  # all but "anon" are credited
        contribute(trail, bad, "data", credit, None, trail.actor_key("dana"))
    found = check_licences(trail, bad)
    kinds = sorted((c.kind, c.licence) for c in found)
    assert kinds == [
        ("attribution", "CC-BY-4.0"), ("no-derivatives", "CC-BY-ND-4.0"),
        ("non-commercial", "CC-BY-NC-4.0"), ("share-alike", "CC-BY-SA-4.0"),
        ("share-alike", "GPL-3.0-only"),
    ]  # fmt: skip
    nc = next(c for c in found if c.kind == "non-commercial")
    assert [s["kind"] for s in nc.path] == ["model", "training-run", "dataset"]
    assert nc.path[-1]["name"] == "nc v1"
    # research use of the same lineage: non-commercial data is fine then
    research = {c.kind for c in check_licences(trail, resolve_model(trail, "bad"), "research")}
    assert "non-commercial" not in research and "share-alike" in research
    # a share-alike source is met by a model licensed in the same family
    _model(trail, tmp_path, "shared", ["sa"], license="CC-BY-SA-4.0")
    shared = resolve_model(trail, "shared")
    contribute(trail, shared, "data", sa, None, trail.actor_key("dana"))
    assert check_licences(trail, shared) == []


def test_obligations_flow_from_parent_models(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    _dataset(trail, tmp_path, "nc", "CC-BY-NC-4.0")
    _dataset(trail, tmp_path, "clean", "CC0-1.0")
    _model(trail, tmp_path, "base", ["nc"], use="research", license="CC0-1.0")
    _model(trail, tmp_path, "tuned", ["clean"], use="commercial", license="MIT",
           parents=["base"])  # fmt: skip
    found = check_licences(trail, resolve_model(trail, "tuned"))
    assert {c.kind for c in found} == {"non-commercial", "attribution"}
    paths = [[s["name"] for s in c.path] for c in found if c.kind == "non-commercial"]
    assert paths == [["tuned", "base", "base", "nc v1"]]  # through the parent, to its data
    with pytest.raises(InputError, match="not recorded"):
        _model(trail, tmp_path, "orphan", ["clean"], parents=["sha256:" + "0" * 64])


def test_contributions_shares_and_their_flow(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    _dataset(trail, tmp_path, "clean", "CC0-1.0")
    _model(trail, tmp_path, "base", ["clean"])
    base = resolve_model(trail, "base")
    data_ref = "sha256:" + trail.statement(trail.indices_of_type(
        "https://fairtrail.dev/dataset/v1")[0])[1].subject[0].digest["sha256"]  # fmt: skip

    contribute(trail, base, "data", data_ref, "60", trail.actor_key("dana"))
    contribute(trail, base, "code", "sha1:" + "a" * 40, "40", trail.actor_key("mo"))
    size = trail.store.size
    for kind, ref, share, who, words in [
        ("code", "sha1:" + "b" * 40, "0.01", "ana", "over 100%"),
        ("data", data_ref, None, "dana", "already contributed"),
        ("weights", "sha256:" + "1" * 64, None, "ana", "no model"),
        ("data", "sha256:" + "2" * 64, None, "ana", "no dataset"),
        ("paint", "sha1:" + "c" * 40, None, "ana", "--kind"),
        ("code", "md5:abc", None, "ana", "ALG:HEX"),
        ("code", "sha1:" + "d" * 40, "12.345", "ana", "two decimals"),
        ("code", "sha1:" + "d" * 40, "-5", "ana", "above 0"),
        ("code", "sha1:" + "d" * 40, "ten", "ana", "percentage"),
    ]:  # fmt: skip
        with pytest.raises(InputError, match=words):
            contribute(trail, base, kind, ref, share, trail.actor_key(who))
    assert trail.store.size == size  # nothing recorded
    _model(trail, tmp_path, "tuned", ["clean"], parents=["base"])
    tuned = resolve_model(trail, "tuned")
    contribute(trail, tuned, "weights", base.ref, "100", trail.actor_key("ana"))
    found = contributions_of(trail, tuned)
    assert [(c.contributor, c.share, c.via) for c in found] == [
        ("ana", "100.00", []), ("dana", "60.00", ["base"]), ("mo", "40.00", ["base"])]  # fmt: skip
    from fairtrail.policy.facts import gather_facts

    facts = gather_facts(trail, tuned)["contributions"]
    assert facts == {"count": 1, "contributors": ["ana"], "share_bp": 10_000, "inherited": 2}
    trail.close()


def test_cli_and_a_gate_that_refuses_a_licence_conflict(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    nc = _dataset(trail, tmp_path, "nc", "CC-BY-NC-4.0")
    _model(trail, tmp_path, "m", ["nc"], license="MIT")
    trail.close()
    path = tmp_path / "trail"
    r = ft(path, "licences", "m")
    assert r.returncode == 4 and "non-commercial" in r.stdout and "dataset nc v1" in r.stdout
    assert "attribution" in r.stdout
    credit = ft(path, "contribute", "m", "--kind", "data", "--ref", nc, "--as", "dana")
    assert credit.returncode == 0, credit.stderr
    r = ft(path, "licences", "m", "--use", "research")
    assert r.returncode == 0, r.stdout
    assert ft(path, "policy", "add", "--pack", "licensing").returncode == 0
    r = ft(path, "policy", "check", "m")
    assert r.returncode == 4 and "no-licence-conflicts" in r.stdout + r.stderr
    r = ft(path, "deploy", str(tmp_path / "m"), "--env", "prod", "--as", "ops")
    assert_user_error(r, 4, "commercial-use-allowed")
    assert_user_error(ft(path, "licences", "nope"), 2, "nope")
    assert_user_error(ft(path, "licences", "m", "--use", "weekend"), 2, "use must be one of")
    assert_user_error(ft(path, "contribute", "nope", "--kind", "code", "--ref",
                         "sha1:" + "a" * 40), 2, "nope")  # fmt: skip
    r = ft(path, "contribute", "m", "--kind", "code", "--ref", "sha1:" + "a" * 40,
           "--share", "30", "--as", "ana")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert_user_error(ft(path, "contribute", "m", "--kind", "code", "--ref", "sha1:" + "b" * 40,
                         "--share", "80", "--as", "mo"), 2, "over 100%")  # fmt: skip
    r = ft(path, "contributors", "m")
    assert "ana: code sha1:aaaa" in r.stdout and "30.00%" in r.stdout
    assert_user_error(ft(path, "model", "add", str(tmp_path / "m"), "--license", "Nope-1"),
                      2, "SPDX")  # fmt: skip
    assert_user_error(ft(path, "run", "record", "--name", "r", "--code-license", "GPL-9.0"),
                      2, "SPDX")  # fmt: skip
    assert_user_error(ft(path, "model", "add", str(tmp_path / "m"), "--use", "weekend"),
                      2, "--use")  # fmt: skip
