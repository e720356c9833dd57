"""`fairtrail report`: a standalone HTML audit report whose every section is filled
from the trail, with the evidence bundle beside it that `verify-bundle` accepts; and
the server commands' bad input answered in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.cli.test_cli import assert_user_error, ft

from fairtrail import Trail

pytestmark = pytest.mark.integration


def test_report_holds_the_evidence_and_its_bundle_verifies(
    rich_trail: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    r = ft(rich_trail, "report", "credit-model", "-o", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    for section in ["Model card", "Lineage", "Fairness", "Policy decisions", "Reviews",
                    "Monitoring", "Timeline", "EU AI Act Annex IV mapping",
                    "How to verify every claim here offline"]:  # fmt: skip
        assert f"<h2>{section}</h2>" in html, section
    assert "EU AI Act Art. 72" in html and "non-compliant" in html
    assert re.search(r'<rect[^>]+data-group="female"', html)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    with Trail.open(rich_trail, writable=False) as trail:
        vkey = trail.config.log_vkey
    bundle = tmp_path / "report.html.bundle.json"
    assert f"verify-bundle {bundle.name}" in html
    check = ft(rich_trail, "verify-bundle", str(bundle), "--trusted-key", vkey)
    assert check.returncode == 0, check.stdout + check.stderr


def test_server_commands_refuse_bad_input_in_one_line(rich_trail: Path, tmp_path: Path) -> None:
    size = Trail.open(rich_trail, writable=False).store.size
    assert_user_error(ft(rich_trail, "report", "nope", "-o", str(tmp_path / "r.html")), 2, "nope")
    assert_user_error(ft(rich_trail, "report", "credit-model", "-o", str(tmp_path / "r.txt")), 2,
                      "HTML")  # fmt: skip
    assert_user_error(ft(rich_trail, "report", "credit-model", "-o", "/no/such/dir/r.html"), 2,
                      "no folder")  # fmt: skip
    assert_user_error(ft(rich_trail, "token", "create", "ghost", "--role", "admin"), 2, "ghost")
    assert_user_error(ft(rich_trail, "token", "create", "rita", "--role", "admin"), 2,
                      "does not hold")  # fmt: skip
    assert_user_error(ft(rich_trail, "token", "revoke", "abc"), 2, "no token")
    assert_user_error(ft(rich_trail, "serve", "--db", "sqlite:/elsewhere.db"), 2,
                      "not this trail's log")  # fmt: skip
    made = ft(rich_trail, "token", "create", "rita", "--role", "reviewer")
    assert made.returncode == 0 and made.stdout.strip().startswith("ft_")
    listed = ft(rich_trail, "token", "list")
    assert "rita  reviewer" in listed.stdout and made.stdout.strip() not in listed.stdout
    token_id = listed.stdout.split()[0]
    assert ft(rich_trail, "token", "revoke", token_id).returncode == 0
    assert_user_error(ft(rich_trail, "token", "revoke", token_id), 2, "already revoked")
    assert Trail.open(rich_trail, writable=False).store.size == size  # nothing recorded


def test_report_as_pdf(rich_trail: Path, tmp_path: Path) -> None:
    import subprocess

    out = tmp_path / "report.pdf"
    r = ft(rich_trail, "report", "credit-model", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"%PDF-")
    assert (tmp_path / "report.pdf.bundle.json").is_file()
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout)[1])  # type: ignore[index]
    assert pages >= 3
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    for words in ["Model card", "EU AI Act Annex IV mapping", "production-demographic-parity",
                  "How to verify every claim here offline"]:  # fmt: skip
        assert words in text, words
