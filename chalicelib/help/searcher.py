"""The index a container serves: loaded once, then the pointer is re-read at most every
`HELP_INDEX_REFRESH_SECONDS` (one GetItem), never per request; a new generation is downloaded and
swapped in whole.

When the pointer or the object cannot be read, the index already loaded goes on serving (and the
next check is after another interval); only a container that never loaded one answers 503.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING

from chalicelib.help import registry
from chalicelib.help.errors import refusal
from chalicelib.help.settings import help_settings
from chalicelib.help.store import index_store
from chalicelib.observability.log import log_event

if TYPE_CHECKING:  # importing indexing imports tantivy: the first search pays for it, not the cold start
    from chalicelib.help.indexing import LoadedIndex

EXTRACT_ROOT = Path(tempfile.gettempdir()) / "help-index"


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: LoadedIndex | None = None
        self.checked_at = 0.0


_cache = _Cache()


def current(language: str = "fr") -> LoadedIndex:
    """The index to search, fresh to within the refresh interval. `language`: of the 503's message."""
    with _cache.lock:
        loaded = _cache.loaded
        if loaded is not None and monotonic() - _cache.checked_at < help_settings().refresh_s:
            return loaded
        try:
            loaded = _refresh(loaded)
        except Exception as error:  # noqa: BLE001 - an old index beats no answer
            log_event("help_index_load_failed", level=logging.ERROR, error=type(error).__name__)
            if loaded is None:
                raise refusal("help_unavailable", language) from None
        _cache.loaded = loaded
        _cache.checked_at = monotonic()
        return loaded


def _refresh(loaded: LoadedIndex | None) -> LoadedIndex:
    from chalicelib.help import indexing

    pointer = registry.read_pointer()
    if pointer is None:
        return loaded if loaded is not None else indexing.empty()
    if loaded is not None and loaded.generation == pointer.generation:
        return loaded
    started = time.perf_counter()
    fresh = indexing.open_bundle(index_store().get(pointer.object_key), into=EXTRACT_ROOT)
    log_event(
        "help_index_loaded",
        generation=pointer.generation,
        articles=pointer.articles,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    if loaded is not None:
        loaded.close()
    return fresh


def reset() -> None:
    """Forget the loaded index (tests; a container never needs it)."""
    with _cache.lock:
        if _cache.loaded is not None:
            _cache.loaded.close()
        _cache.loaded = None
        _cache.checked_at = 0.0
