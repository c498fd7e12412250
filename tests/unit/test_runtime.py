"""The heap settling of long-running commands hands everything back to the collector when they end."""

from __future__ import annotations

import gc

from gateway.runtime import settled_heap


def test_start_up_objects_are_frozen_only_while_the_command_runs() -> None:
    before = gc.get_freeze_count()
    with settled_heap():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == 0
