"""Many cases at once: ``jobs`` worker processes, results in input order or as they finish.

``jobs`` is a budget of working processes, as ``make -j`` and OCRmyPDF's ``--jobs``:
``jobs=1`` works on one thing at a time (one case, its files read on one worker), and
the default is one per CPU.

Workers are forks of this (already warm) process when that is safe, that is when this
process has never run Typst (:mod:`opinionkit.typstproc`; the CLI's parent never does,
its workers do); otherwise fresh interpreters (``spawn``). Each
worker inspects its case's files on one bounded child (:func:`~opinionkit.inspect.limits.
share_cpus`), not one per CPU: the jobs share the cores instead of competing for them.
The inspection workers are kept from one case to the next (:func:`~opinionkit.inspect.
limits.keep_workers`), with ``--jobs 1`` too.
One failing case never stops the others: a worker returns the exception (an
:class:`OpinionkitError`) instead of raising it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from opinionkit.errors import OpinionkitError

T = TypeVar("T")
Outcome = tuple[int, Path, Any, OpinionkitError | None]
"""(index in the input, path, result or None, error or None)."""


def _call(
    fn: Callable[..., T], path: Path, args: tuple[Any, ...]
) -> tuple[T | None, OpinionkitError | None]:
    try:
        return fn(path, *args), None
    except OpinionkitError as e:
        return None, e


_KEEP = contextlib.ExitStack()
"""What a batch worker keeps until it ends: its inspection workers (they end with it)."""


def _worker_start(workers: int) -> None:
    from opinionkit.inspect.limits import keep_workers, share_cpus

    share_cpus(workers)
    _KEEP.enter_context(keep_workers())


def run_cases(
    fn: Callable[..., T], paths: Sequence[Path], args: tuple[Any, ...] = (), jobs: int | None = None
) -> Iterator[Outcome]:
    """Yield one outcome per case as it finishes (in input order when ``jobs`` is 1).

    ``jobs`` is how many processes work at once: with several cases, that many cases
    side by side, each reading its files on one bounded worker (``jobs`` above the number
    of cases: the rest read files); with one case, or ``jobs=1``, one case at a time
    reading its files on ``jobs`` workers. Default: one per CPU
    (:func:`~opinionkit.inspect.limits.usable_cpus`), but cases one at a time where the
    workers could not be forks (a process that has run Typst: ``spawn`` would re-import a
    script's main module, which needs an ``if __name__ == "__main__"`` guard)."""
    from opinionkit.inspect.limits import cpu_budget, keep_workers, usable_cpus
    from opinionkit.typstproc import fork_safe

    fork = len(paths) > 1 and fork_safe()
    if jobs is None:  # by default, side by side only where the workers can be forks
        jobs = usable_cpus() if fork or len(paths) <= 1 else 1
    if jobs <= 1 or len(paths) <= 1:
        # the cases share the inspection workers (one case has them to itself, and they
        # end when its files are read: they would otherwise idle through its merge)
        with cpu_budget(jobs), keep_workers() if len(paths) > 1 else contextlib.nullcontext():
            for i, path in enumerate(paths):
                result, error = _call(fn, path, args)
                yield i, path, result, error
        return
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    if fork:  # the workers inherit the record readers instead of each importing them
        from opinionkit.checks.files import warm

        warm()
    workers = min(jobs, len(paths))
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_worker_start,
        initargs=(max(1, jobs // workers),),  # fewer cases than jobs: the rest read files
    ) as pool:
        futures: dict[Future[tuple[Any, OpinionkitError | None]], tuple[int, Path]] = {
            pool.submit(_call, fn, path, args): (i, path) for i, path in enumerate(paths)
        }
        try:
            for future in as_completed(futures):
                i, path = futures[future]
                result, error = future.result()
                yield i, path, result, error
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise
