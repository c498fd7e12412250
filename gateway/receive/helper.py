"""The validation helper's lifecycle, apart from the pipeline: when `receive_many` hands the XSD validation of a
stream of small documents to a helper process on the other core (`gateway.xml.validate_ahead`), and when not."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.receive.commit import ARCHIVE_LEVEL
from gateway.receive.reading import MAP_WHILE_VALIDATING
from gateway.xml.validate_ahead import ValidationHelper, Verdicts, second_core_available

# Streams with at least this many small documents use the helper: it takes about 0.1 s to be ready (the stream
# validates itself meanwhile), so for fewer it is not started.
VALIDATION_HELPER_FROM = 100


def small(data: bytes) -> bool:
    """Large documents are validated on a thread while they are mapped (see `Reader.read`), and would cost a copy
    through the pipe."""
    return len(data) < MAP_WHILE_VALIDATING


class AheadValidation:
    """Owns the helper process (when there is a second core): started on the first long stream or by `warm_up`,
    kept for later streams, ended by `close`."""

    def __init__(self, max_bytes: int, enabled: bool) -> None:
        self._helper = (ValidationHelper(max_bytes, archive_level=ARCHIVE_LEVEL)
                        if enabled and second_core_available() else None)

    def warm_up(self, wait: bool = False) -> None:
        if self._helper is not None:
            if wait:
                self._helper.wait_ready()
            else:
                self._helper.start()

    def verdicts(self, datas: Sequence[bytes]) -> Verdicts | None:
        """The helper's verdicts on the small documents of `datas`, worked out ahead; None when the stream is too
        short to be worth it or there is no helper."""
        if self._helper is None or sum(1 for data in datas if small(data)) < VALIDATION_HELPER_FROM:
            return None
        return self._helper.ahead(datas, small)

    def close(self) -> None:
        if self._helper is not None:
            self._helper.close()
