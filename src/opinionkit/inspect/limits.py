"""Bounded time and memory for reading untrusted files.

:func:`run_limited` runs a function in a forked child process whose address space is
capped (``RLIMIT_AS``) and which is killed when it runs past its time limit; the result
comes back through a pipe. A hostile PDF (a loop, a decompression bomb, a fuzzed file)
therefore costs at most ``Limits.seconds`` and ``Limits.memory_mb``, and can never hang
or exhaust the process running ``check``. Where ``fork`` is unavailable (Windows) the
function runs in-process without the bounds.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from opinionkit.errors import InputError, LimitExceeded, OpinionkitError

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    seconds: float = 30.0
    """Wall-clock time one file may take."""
    memory_mb: int = 1536
    """Extra address space one file may use, on top of what the process already has."""
    enabled: bool = True
    """False runs inspections in-process (for debugging; not safe with hostile files)."""


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _silence() -> None:
    """The child's own stdout/stderr go nowhere: a library's diagnostics (a Rust panic
    backtrace, a warning quoting file bytes) never reach the terminal or a log."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    except OSError:
        pass


def _child(conn: Connection, limits: Limits, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _silence()
    try:
        import resource

        budget = _vm_size_bytes() + limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
        cpu = int(limits.seconds) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ImportError, ValueError, OSError):
        pass
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except MemoryError:
        result = ("memory", None)
    except RecursionError:
        result = ("error", "RecursionError")
    except OpinionkitError as e:  # our own messages carry no patient data: keep them
        result = ("opinionkit", (e.message, e.hint))
    except BaseException as e:
        result = ("error", type(e).__name__)
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", None))
    except Exception as e:
        conn.send(("error", type(e).__name__))
    finally:
        conn.close()


def _fork_context() -> Any:
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def run_many(
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]], *, limits: Limits, workers: int = 0
) -> list[Any]:
    """Run ``jobs`` (each ``(fn, args)``) in bounded child processes, ``workers`` at a time
    (default: one per CPU), all forked from this thread. Returns, in order, each result or
    the exception it ended with (:class:`LimitExceeded` or :class:`RuntimeError`)."""
    from multiprocessing.connection import wait

    ctx = _fork_context()
    if ctx is None or not limits.enabled or len(jobs) <= 1:
        out: list[Any] = []
        for fn, args in jobs:
            try:
                out.append(run_limited(fn, *args, limits=limits))
            except (LimitExceeded, RuntimeError, InputError) as e:
                out.append(e)
        return out

    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    results: list[Any] = [None] * len(jobs)
    pending = list(range(len(jobs)))
    running: dict[Any, tuple[int, Any, float]] = {}  # conn -> (index, process, deadline)
    try:
        while pending or running:
            while pending and len(running) < workers:
                i = pending.pop(0)
                fn, args = jobs[i]
                recv, proc = _start(ctx, limits, fn, args)
                running[recv] = (i, proc, time.monotonic() + limits.seconds)
            now = time.monotonic()
            timeout = max(0.0, min(d for _, _, d in running.values()) - now)
            ready = wait(list(running), timeout)
            for conn in ready:
                i, proc, _ = running.pop(conn)
                results[i] = _collect(conn, limits)
                _reap(conn, proc)
            now = time.monotonic()
            for conn, (i, proc, deadline) in list(running.items()):
                if now >= deadline:
                    running.pop(conn)
                    results[i] = LimitExceeded("time", f"{limits.seconds:g} s")
                    _reap(conn, proc)
    finally:
        for conn, (_, proc, _) in running.items():
            _reap(conn, proc)
    return results


def _collect(conn: Any, limits: Limits) -> Any:
    try:
        status, value = conn.recv()
    except (EOFError, OSError):
        return LimitExceeded("memory", f"{limits.memory_mb} MB")
    if status == "memory":
        return LimitExceeded("memory", f"{limits.memory_mb} MB")
    if status == "error":
        return RuntimeError(str(value))
    if status == "opinionkit":
        return InputError(value[0], hint=value[1])
    return value


def _reap(conn: Any, proc: Any) -> None:
    conn.close()
    if proc.is_alive():
        proc.kill()
    proc.join(5)
    proc.close()


def run_limited(fn: Callable[..., T], *args: Any, limits: Limits, fresh: bool = False) -> T:
    """Call ``fn(*args)`` in a bounded child process and return its (picklable) result.

    Raises :class:`LimitExceeded` when the child runs out of time or memory or dies, and
    :class:`RuntimeError` naming the exception type when ``fn`` raised. ``fresh`` starts
    the child as a new interpreter (``spawn``) instead of a fork: needed for libraries that
    hold threads and locks (Typst), slower to start (about half a second).
    """
    ctx = multiprocessing.get_context("spawn") if fresh else _fork_context()
    if ctx is None or not limits.enabled:
        return fn(*args)
    recv, proc = _start(ctx, limits, fn, args)
    try:
        if not recv.poll(limits.seconds):
            result: Any = LimitExceeded("time", f"{limits.seconds:g} s")
        else:
            result = _collect(recv, limits)
    finally:
        _reap(recv, proc)
    if isinstance(result, LimitExceeded | RuntimeError | InputError):
        raise result
    return result  # type: ignore[no-any-return]


def _start(
    ctx: Any, limits: Limits, fn: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[Any, Any]:
    """Start ``fn(*args)`` in a bounded child; return (receiving end, process)."""
    recv, send = ctx.Pipe(duplex=False)
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process may deadlock; the child
        # only parses one file and never touches locks shared with other threads.
        warnings.simplefilter("ignore", DeprecationWarning)
        proc = ctx.Process(target=_child, args=(send, limits, fn, args), daemon=True)
        proc.start()
    send.close()
    return recv, proc
