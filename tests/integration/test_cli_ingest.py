"""`gateway parties`, `gateway ingest` and `gateway validate` as an integration engineer runs them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.xml.validate_ahead import Verdicts, second_core_available
from mappings import samples
from tests.support.pipeline import FIXTURES


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, lines, err


@pytest.fixture
def migrated(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", migrated_database_url)
    assert main(["parties", "add", samples.DATAHUB_GLN, "--role", "DH", "--name", "Datahub"]) == 0
    assert main(["parties", "add", samples.OUR_SUPPLIER_GLN, "--role", "DDQ", "--own"]) == 0
    assert main(["parties", "add", samples.OUR_DSO_GLN, "--role", "DDM", "--own", "--token", "t"]) == 0
    capsys.readouterr()
    return migrated_database_url


def test_ingest_prints_one_json_line_per_message_and_exit_status(
    migrated: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    e58 = str(FIXTURES / "e58-accounting-point-1.xml")
    e66 = str(FIXTURES / "e66-winter-day-pt15m.xml")
    code, lines, _ = _run(capsys, "ingest", "--sender", samples.DATAHUB_GLN, e58)
    assert code == 0 and lines[0]["result"] == "accepted" and lines[0]["document_type"] == "E58"

    # A SOAP envelope is unwrapped; a repeat is a duplicate, which is not an error.
    from gateway.soap.envelope import send_message_request

    wrapped = tmp_path / "e66-in-envelope.xml"
    wrapped.write_bytes(send_message_request((FIXTURES / "e66-winter-day-pt15m.xml").read_bytes()))
    code, lines, _ = _run(capsys, "ingest", "--sender", samples.OUR_DSO_GLN, str(wrapped), e66)
    assert code == 0 and [line["result"] for line in lines] == ["accepted", "duplicate"]

    bad = str(FIXTURES / "invalid-schema-e58-no-grid-area.xml")
    code, lines, _ = _run(capsys, "ingest", "--sender", samples.DATAHUB_GLN, bad)
    assert code == 2 and lines[0]["result"] == "rejected"
    error = lines[0]["errors"][0]  # type: ignore[index]
    assert error["code"].startswith("XSD.") and error["line"] > 0


def test_validate_stores_nothing(migrated: str, capsys: pytest.CaptureFixture[str]) -> None:
    e58 = str(FIXTURES / "e58-accounting-point-1.xml")
    code, lines, _ = _run(capsys, "validate", "--sender", samples.DATAHUB_GLN, e58)
    assert code == 0 and lines[0]["result"] == "valid"
    code, lines, _ = _run(capsys, "ingest", "--sender", samples.DATAHUB_GLN, e58)
    assert lines[0]["result"] == "accepted", "validate did not register the message"


def test_unknown_sender_and_bad_party_are_clear_errors(migrated: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "ingest", "--sender", "6430000000047", str(FIXTURES / "e66-pt1h-day.xml"))
    assert code == 2 and "not a registered party" in err
    code, _, err = _run(capsys, "parties", "add", "1234567890123", "--role", "DDQ")
    assert code == 2 and "not a valid GLN" in err
    code, _, err = _run(capsys, "parties", "add", samples.OTHER_SUPPLIER_GLN, "--role", "BOSS")
    assert code == 2 and "unknown role" in err
    main(["parties", "list", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert {p["gln"] for p in listed} == {samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, samples.OUR_DSO_GLN}
    assert all("token" not in p for p in listed), "credentials are never printed"


def test_many_files_are_answered_in_order_and_an_internal_error_is_pinned_to_its_file(
    migrated: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The validation helper takes part, as it does when a day's files are ingested.
    judged: list[object] = []
    original = Verdicts.issues
    monkeypatch.setattr("gateway.receive.helper.VALIDATION_HELPER_FROM", 4)
    monkeypatch.setattr(Verdicts, "issues", lambda self, i: judged.append(original(self, i)) or judged[-1])
    points = [samples.gsrn(n) for n in range(1, 9)]
    files = []
    for n, point in enumerate(points):
        master = tmp_path / f"{n:02d}-a-e58.xml"
        master.write_bytes(samples.e58_message(point, datetime(2026, 1, 1, tzinfo=UTC)))
        files.append(str(master))
    for n, point in enumerate(points):
        series = tmp_path / f"{n:02d}-b-e66.xml"
        series.write_bytes(samples.e66_message(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [point],
                                               date(2026, 1, 15)))
        files.append(str(series))
    unreadable = tmp_path / "zz-missing.xml"
    code, lines, _ = _run(capsys, "ingest", "--sender", samples.DATAHUB_GLN, *files[:10], str(unreadable),
                          *files[10:], files[9])
    assert code == 2, "the unreadable file is a rejection"
    assert [line["file"] for line in lines] == [*files[:10], str(unreadable), *files[10:], files[9]]
    assert [line["result"] for line in lines] == ["accepted"] * 10 + ["rejected"] + ["accepted"] * 6 + ["duplicate"]
    # Asked, at least: whether it answers before the files are through depends on how fast it starts.
    assert len(judged) >= 10 or not second_core_available()

    # An internal error inside a group commit: the files before it keep their answers, the failing file gets
    # its own error line, and the rest are still received.
    import gateway.apply as apply

    later = [tmp_path / f"c-{n}.xml" for n in range(3)]
    for n, path in enumerate(later):
        path.write_bytes(samples.e66_message(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [points[n]],
                                             date(2026, 1, 16)))
    real_pack = apply.pack

    def failing_pack(txn: object) -> object:
        if getattr(txn, "accounting_point", None) == points[1]:
            raise RuntimeError("disk on fire")
        return real_pack(txn)  # type: ignore[arg-type]

    monkeypatch.setattr(apply, "pack", failing_pack)
    code, lines, _ = _run(capsys, "ingest", "--sender", samples.DATAHUB_GLN, *map(str, later))
    assert code == 1
    assert [line["result"] for line in lines] == ["accepted", "error", "accepted"]
    assert "disk on fire" in lines[1]["errors"][0]["text"]  # type: ignore[index]
