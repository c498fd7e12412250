"""Reading a bank file in a helper process gives exactly what reading it in-process gives: the same entries in
the same batches (references worked out included), the same error at the same point for an invalid file, a
clear error when the helper dies, and no helper left behind when the importer stops early."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.payments import entry_reader
from gateway.payments.bankfiles import BankFile, BankFileError
from gateway.payments.core.entries import BankEntry
from gateway.payments.entry_reader import entry_batches

BANK = Path(__file__).resolve().parents[1] / "fixtures" / "bank"
VALID = ["camt054-real-handelsbanken-finland-example.xml", "camt054-valid-cases.xml",
         "camt054-valid-unknown-iban.xml", "ktl-real-django-jbank-547392460.svm", "ktl-valid-cases.ktl"]


def read(name: str, *, parallel: bool, size: int = 3) -> tuple[list[list[BankEntry]], BankFileError | None]:
    data = (BANK / name).read_bytes()
    batches: list[list[BankEntry]] = []
    try:
        with entry_batches(BankFile.from_bytes(name, data), data, size, parallel=parallel) as stream:
            batches.extend(stream)
    except BankFileError as error:
        return batches, error
    return batches, None


def fingerprint(entry: BankEntry) -> tuple[object, ...]:
    return (entry, entry.extra, entry.reference_texts(), entry.valid_references())


@pytest.mark.parametrize("name", VALID)
def test_a_helper_process_reads_the_same_entries_in_the_same_batches(name: str) -> None:
    here, _ = read(name, parallel=False)
    there, error = read(name, parallel=True)
    assert error is None and sum(map(len, there)) > 0
    assert [[fingerprint(e) for e in batch] for batch in there] == [[fingerprint(e) for e in batch] for batch in here]
    assert all(len(batch) <= 3 for batch in there)


def invalid_while_streaming() -> list[str]:
    """The invalid samples that are found out only while the entries stream (the others are refused from their
    first bytes, before any reader starts)."""
    names = []
    for path in sorted(BANK.glob("invalid-*")):
        try:
            BankFile.from_path(path)
        except BankFileError:
            continue
        names.append(path.name)
    return names


@pytest.mark.parametrize("name", invalid_while_streaming())
def test_an_invalid_file_fails_the_same_way_at_the_same_point(name: str) -> None:
    here, expected = read(name, parallel=False, size=1)
    there, error = read(name, parallel=True, size=1)
    assert expected is not None and error is not None, "each sample is invalid"
    assert (error.code, error.text, error.line, error.column) == (
        expected.code, expected.text, expected.line, expected.column)
    assert [[fingerprint(e) for e in b] for b in there] == [[fingerprint(e) for e in b] for b in here]


def test_a_helper_that_dies_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_reader.sys, "executable", "/bin/false")  # exits at once, reading nothing
    data = (BANK / "camt054-valid-cases.xml").read_bytes()
    with (pytest.raises(RuntimeError, match=r"bank file reader stopped without finishing .* \(exit code 1\)"),
          entry_batches(BankFile.from_bytes("x.xml", data), data, 2, parallel=True) as stream):
        list(stream)


def helpers_running() -> list[int]:
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for pid in children:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"gateway.payments.entry_reader" in command:
                found.append(int(pid))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to list child processes")
def test_an_importer_that_stops_early_leaves_no_helper_behind() -> None:
    data = (BANK / "camt054-valid-cases.xml").read_bytes()
    with entry_batches(BankFile.from_bytes("x.xml", data), data, 1, parallel=True) as stream:
        next(iter(stream))
        assert helpers_running()
    assert helpers_running() == []


def test_small_files_are_read_in_process_and_large_ones_by_a_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (BANK / "camt054-valid-cases.xml").read_bytes()
    started: list[object] = []
    real = entry_reader.subprocess.Popen

    def spy(*args: object, **kwargs: object) -> object:
        started.append(args)
        return real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(entry_reader.subprocess, "Popen", spy)
    with entry_batches(BankFile.from_bytes("x.xml", data), data, 100) as stream:
        list(stream)
    assert started == []
    monkeypatch.setattr(entry_reader, "PARALLEL_FROM_BYTES", len(data))
    with entry_batches(BankFile.from_bytes("x.xml", data), data, 100) as stream:
        list(stream)
    assert len(started) == 1
