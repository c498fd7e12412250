"""A bank file's entries in batches, a large file parsed in a helper process while the importer decides.

Parsing, validating and mapping a camt.054 was the largest single part of an import (measured at 100,000
entries on PostgreSQL: 11.6 s of a 44 s import; 5.1 s alone). The import is one thread deciding entries against
the database, so a helper process on the other core reads the file meanwhile: the importer then pays only for
unpacking the entries it receives (about a seventh of their parsing). The helper also works out each entry's
valid references (check digits), so the importer receives them ready.

What stays the same whichever way a file is read: the same ``BankFile.entries()`` produces the entries, in file
order, and an invalid file raises the same ``BankFileError`` (code, text, line, column) at the same point of
the stream — after the entries before it — so the importer's transaction rolls back exactly as before. Memory
stays bounded: the helper blocks on its pipe once the batches it wrote are not read, and the importer holds one
batch at a time.

A small file (below ``PARALLEL_FROM_BYTES``) is read in-process: a helper costs a new interpreter's start
(about half a second), more than parsing a small file does.
"""

from __future__ import annotations

import gc
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Final

from gateway.payments.bankfiles import DEFAULT_MAX_BANK_FILE_BYTES, BankFile, BankFileError
from gateway.payments.core.entries import BankEntry, BankFileFormat, CreditDebit, RemittancePart

PARALLEL_FROM_BYTES: Final = 4 * 1024 * 1024  # about 7,500 camt.054 entries
_LENGTH: Final = struct.Struct(">Q")

_FORMATS: Final = {f.value: f for f in BankFileFormat}
_DIRECTIONS: Final = {d.value: d for d in CreditDebit}


@contextmanager
def entry_batches(bank: BankFile, data: bytes, size: int, *, parallel: bool | None = None,
                  max_bytes: int = DEFAULT_MAX_BANK_FILE_BYTES) -> Iterator[Iterator[list[BankEntry]]]:
    """The entries of `bank` (whose bytes are `data`) in lists of at most `size`, in file order; a helper process
    starts reading on entering (so it works while the importer archives the file) and is gone on leaving.

    ``parallel`` None: a helper process for files of at least ``PARALLEL_FROM_BYTES``; True/False forces it.
    """
    if parallel is None:
        parallel = len(data) >= PARALLEL_FROM_BYTES
    if not parallel:
        yield _batches(bank.entries(), size)
        return
    # A plain subprocess running this module, not multiprocessing: that would import the caller's main module
    # again in the helper (a script without a __main__ guard would run twice) and never fork a process that
    # holds database connections.
    package_root = str(Path(__file__).resolve().parents[2])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    helper = subprocess.Popen([sys.executable, "-m", __name__, bank.name, str(size), str(max_bytes)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment)
    assert helper.stdin is not None and helper.stdout is not None
    # Fed from a thread: the helper reads nothing until its interpreter has started, and meanwhile the importer
    # archives the file. The helper reads all of it before it writes anything, so the two pipes cannot deadlock.
    feeder = threading.Thread(target=_feed, args=(helper.stdin, data), name="bank-file-feeder", daemon=True)
    feeder.start()
    try:
        yield _received(helper.stdout, helper, bank.name)
    finally:
        if helper.poll() is None:  # the importer stopped early (an error of its own): the rest is not wanted
            helper.kill()
        feeder.join()
        helper.stdout.close()
        helper.wait()


def _feed(stdin: IO[bytes], data: bytes) -> None:
    try:
        stdin.write(data)
        stdin.close()
    except (BrokenPipeError, ValueError):
        pass  # the helper is gone (or was stopped): reading its answer says how


def _batches(entries: Iterator[BankEntry], size: int) -> Iterator[list[BankEntry]]:
    batch: list[BankEntry] = []
    for entry in entries:
        entry.valid_references()  # cached on the entry: in a helper, worked out there
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _received(stream: IO[bytes], helper: subprocess.Popen[bytes], name: str) -> Iterator[list[BankEntry]]:
    while True:
        head = stream.read(_LENGTH.size)
        body = stream.read(_LENGTH.unpack(head)[0]) if len(head) == _LENGTH.size else b""
        if not body:
            raise RuntimeError(f"the bank file reader stopped without finishing {name} (exit code {helper.wait()})")
        kind, content = pickle.loads(body)
        if kind == "end":
            return
        if kind == "error":
            raise BankFileError(*content)
        yield [_unpack(packed) for packed in content]


def _serve(name: str, size: int, max_bytes: int) -> None:
    """The helper: the file's bytes on stdin; length-prefixed pickles of (kind, content) on stdout."""
    gc.disable()  # a short-lived process whose garbage has no cycles: the collector would only rescan entries
    data = sys.stdin.buffer.read()
    # The stream gets a descriptor of its own; anything else printed goes to stderr, never into the stream.
    sys.stdout.flush()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(kind: str, content: Any) -> None:
        body = pickle.dumps((kind, content), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_LENGTH.pack(len(body)))
        out.write(body)

    try:
        bank = BankFile.from_bytes(name, data, max_bytes=max_bytes)
        del data
        for batch in _batches(bank.entries(), size):
            send("entries", [_pack(e) for e in batch])
    except BankFileError as error:
        send("error", (error.code, error.text, error.line, error.column))
    else:
        send("end", None)
    out.close()


# Plain tuples cross the pipe: unpickling a slotted dataclass calls back into Python per object, five times
# the cost of rebuilding it from a tuple of built-in values.
def _pack(e: BankEntry) -> tuple[Any, ...]:
    return (e.source_format.value, e.entry_ref, e.account, e.amount, e.currency, e.credit_debit.value,
            e.booking_date, e.value_date, e.reversal, e.payer_name,
            tuple((p.reference_text, p.amount, p.credit_note_amount, p.document_number, p.document_type)
                  for p in e.parts),
            e.unstructured, e.file_position, e.notification_id, e.extra, e.reference_texts(), e.valid_references())


def _unpack(t: tuple[Any, ...]) -> BankEntry:
    entry = BankEntry(_FORMATS[t[0]], t[1], t[2], t[3], t[4], _DIRECTIONS[t[5]], t[6], t[7], t[8], t[9],
                      tuple(RemittancePart(*p) for p in t[10]), t[11], t[12], t[13], t[14])
    entry.remember_references(t[15], t[16])
    return entry


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
