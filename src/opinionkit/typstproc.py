"""Where Typst runs: the one place that decides whether a fork may run it.

Typst cannot run in a fork of a process that has already run it (its threads and locks
do not survive a fork). A process that has not run it yet may fork a child that does:
the memory Typst builds up and keeps (fonts, layout caches: ~20 MB for the stamp sheet,
~110 MB for the index of a 500-record packet) then leaves with the child instead of
staying under the packet's merge. :func:`start` does that when it is safe, and runs the
work on a helper thread of this process otherwise; ``--jobs`` forks its workers only
while :func:`typst_used` is false.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sys
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_CHILD_LIMITS_SECONDS = 3600.0
_CHILD_LIMITS_MB = 16384
"""A child rendering the shipped templates or the stamp is there for its memory, not for
bounds (the bundle's own watchdog bounds the time)."""


def typst_used() -> bool:
    """Whether this process may have run Typst: whether anything has imported it
    (opinionkit's own modules import it only when they are about to compile; a caller's
    code may run it any other way), in which case a fork of it may not run Typst."""
    return "typst" in sys.modules


def fork_safe() -> bool:
    """Whether a fork of this process may run Typst."""
    return "fork" in multiprocessing.get_all_start_methods() and not typst_used()


class Deferred(Generic[T]):
    """A result being made in a forked child or on a helper thread."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...], fork: bool) -> None:
        self._child: tuple[Any, Any] | None = None
        self._future: concurrent.futures.Future[T] | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        if fork:
            from opinionkit.inspect.limits import Limits, _start

            self._limits = Limits(seconds=_CHILD_LIMITS_SECONDS, memory_mb=_CHILD_LIMITS_MB)
            self._child = _start(multiprocessing.get_context("fork"), self._limits, fn, args)
        else:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "opinionkit-typst")
            self._future = self._pool.submit(fn, *args)

    def result(self) -> T:
        """The result (raises what making it raised: an
        :class:`~opinionkit.errors.InputError` as it was, any other failure of a child as
        :class:`RuntimeError` or :class:`~opinionkit.errors.LimitExceeded`)."""
        if self._future is not None:
            assert self._pool is not None
            try:
                return self._future.result()
            finally:
                self._pool.shutdown()
        from opinionkit.errors import InputError, LimitExceeded
        from opinionkit.inspect.limits import _collect, _reap

        assert self._child is not None
        recv, proc = self._child
        try:
            result = _collect(recv, self._limits)
        finally:
            _reap(recv, proc)
        if isinstance(result, LimitExceeded | RuntimeError | InputError):
            raise result
        return result  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop making it (after a failure elsewhere): the child is killed."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._child is not None:
            from opinionkit.inspect.limits import _reap

            recv, proc = self._child
            self._child = None
            _reap(recv, proc)


def start(fn: Callable[..., T], *args: Any, fork: bool = True) -> Deferred[T]:
    """Start ``fn(*args)`` (picklable arguments and result): in a forked child when
    ``fork`` and :func:`fork_safe`, else on a helper thread of this process."""
    return Deferred(fn, args, fork and fork_safe())


def call(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, in a forked child when that is safe (see :func:`start`)."""
    if not fork_safe():
        return fn(*args)
    return start(fn, *args).result()
