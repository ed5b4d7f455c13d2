"""Bounded time and memory for reading untrusted files.

:func:`run_limited` runs a function in a forked child process whose address space is
capped (``RLIMIT_AS``) and which is killed when it runs past its time limit; the result
comes back through a pipe. A hostile PDF (a loop, a decompression bomb, a fuzzed file)
therefore costs at most ``Limits.seconds`` and ``Limits.memory_mb``, and can never hang
or exhaust the process running ``check``. Where ``fork`` is unavailable (Windows) the
function runs in-process without the bounds. :func:`run_many` runs many such jobs on
a few forked workers that each take one job after another, every job within the limits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
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


_WORKERS = 0
"""Workers :func:`run_many` starts when the caller names none (0: one per CPU); see
:func:`share_cpus`."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), at most 8: the default
    number of processes that work at once (``--jobs``, inspection and OCR workers)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    return max(1, min(count, 8))


def worker_count() -> int:
    """How many workers :func:`run_many` (and OCR) use by default in this process."""
    return _WORKERS or usable_cpus()


def share_cpus(workers: int) -> None:
    """Make this process's :func:`run_many` calls use ``workers`` workers by default
    (0: one per CPU). ``--jobs N`` is a budget of N working processes: N cases side by
    side each inspect their files on one worker; one case, or ``--jobs 1``, on N."""
    global _WORKERS
    _WORKERS = max(0, workers)


@contextlib.contextmanager
def cpu_budget(workers: int) -> Iterator[None]:
    """:func:`share_cpus` for the duration of the block, then the earlier setting."""
    previous = _WORKERS
    share_cpus(workers)
    try:
        yield
    finally:
        share_cpus(previous)


_PARENT_CHECK_SECONDS = 1.0
"""How often an idle worker looks whether its parent is still there."""

_RETIRE_GROWTH = 256 * 1024 * 1024
"""A worker whose resident memory has grown by more than this since it started retires
after its job (a kept worker would otherwise carry a big file's heap to the next case)."""

_KEPT: dict[Limits, list[tuple[Any, Any]]] | None = None
"""Idle workers of :func:`run_many`, by their limits, while :func:`keep_workers` is on."""
_KEPT_BY = 0
"""The process whose workers :data:`_KEPT` holds (a fork of it inherits the variable,
never the workers)."""


@contextlib.contextmanager
def keep_workers() -> Iterator[None]:
    """While inside, :func:`run_many`'s workers outlive each call, idle, for the next one:
    a batch's cases share them, so a worker is forked, and its libraries warmed up, once
    per batch instead of once per case (about a third of a small case's inspection time).
    Every job still runs within its limits; a worker that failed one is never kept.
    They end when the block does (or, in a batch worker, with their parent)."""
    global _KEPT, _KEPT_BY
    if _kept() is not None:  # already on (nested): the outer block ends them
        yield
        return
    _KEPT, _KEPT_BY = {}, os.getpid()
    try:
        yield
    finally:
        kept, _KEPT = _KEPT or {}, None
        for idle in kept.values():
            _stop_idle(idle)


def _kept() -> dict[Limits, list[tuple[Any, Any]]] | None:
    return _KEPT if os.getpid() == _KEPT_BY else None


def _status_bytes(field: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _vm_size_bytes() -> int:
    return _status_bytes("VmSize:")


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


def _bound(limits: Limits) -> None:
    """Cap this process's address space at what it uses now plus ``limits.memory_mb``, and
    its CPU time at what it has used plus ``limits.seconds`` (soft limits: a worker raises
    them again for its next file; the file's own code never runs ours)."""
    try:
        import resource

        budget = _vm_size_bytes() + limits.memory_mb * 1024 * 1024
        _, hard_as = resource.getrlimit(resource.RLIMIT_AS)
        if hard_as != resource.RLIM_INFINITY:
            budget = min(budget, hard_as)
        resource.setrlimit(resource.RLIMIT_AS, (budget, hard_as))
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(used.ru_utime + used.ru_stime + limits.seconds) + 2
        _, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)
        if hard_cpu != resource.RLIM_INFINITY:
            cpu = min(cpu, hard_cpu)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard_cpu))
    except (ImportError, ValueError, OSError):
        pass


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except MemoryError:
        return ("memory", None)
    except RecursionError:
        return ("error", "RecursionError")
    except OpinionkitError as e:  # our own messages carry no patient data: keep them
        return ("opinionkit", (e.message, e.hint))
    except BaseException as e:
        return ("error", type(e).__name__)


def _send(conn: Connection, result: tuple[str, Any]) -> None:
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", None))
    except Exception as e:
        conn.send(("error", type(e).__name__))


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Make this (child) process end when its parent does, so a killed run leaves no
    process behind: Linux's parent-death signal, and, wherever that is missing, the
    check in :func:`_parent_gone` that the workers make while they wait.

    ``parent`` is the pid the child was started by; if it is already gone (it died
    before the signal was asked for), the child ends at once."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _parent_gone(parent: int) -> bool:
    return os.getppid() != parent


def _child(
    conn: Connection, limits: Limits, fn: Callable[..., Any], args: tuple[Any, ...], parent: int
) -> None:
    die_with_parent(parent)
    _silence()
    _bound(limits)
    try:
        _send(conn, _call(fn, args))
    finally:
        conn.close()


def _worker(conn: Connection, limits: Limits, parent: int) -> None:
    """A forked worker of :func:`run_many`: runs jobs sent down ``conn`` one at a time,
    each within ``limits``, until the pipe closes or the parent is gone (a worker forked
    later holds a copy of this pipe's other end, so a killed parent need not close it).
    It stops after any job that did not end normally (its state may be damaged); the
    parent starts a fresh one."""
    die_with_parent(parent)
    _silence()
    started = _status_bytes("VmRSS:")
    try:
        while True:
            try:
                while not conn.poll(_PARENT_CHECK_SECONDS):
                    if _parent_gone(parent):
                        return
                job = conn.recv()
            except (EOFError, OSError):
                return
            if job is None:  # the parent has no more work
                return
            fn, args = job
            _bound(limits)
            result = _call(fn, args)
            if result[0] == "ok" and _status_bytes("VmRSS:") - started > _RETIRE_GROWTH:
                result = ("retire", result[1])
            _send(conn, result)
            if result[0] != "ok":
                return
    finally:
        conn.close()


def _fork_context() -> Any:
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def run_many(
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]], *, limits: Limits, workers: int = 0
) -> list[Any]:
    """Run ``jobs`` (each ``(fn, args)``, both picklable) in bounded child processes,
    ``workers`` at a time (default: one per CPU). Returns, in order, each result or the
    exception it ended with (:class:`LimitExceeded` or :class:`RuntimeError`).

    The workers are forked once and each takes job after job (forking a large process
    for every file costs more than a small file's inspection); every job gets the full
    time and memory limits. A worker that runs out of time is killed, one that runs out
    of memory or fails dies, and a fresh worker takes the next job."""
    from multiprocessing.connection import wait

    ctx = _fork_context()
    kept = _kept()
    if ctx is None or not limits.enabled or (len(jobs) <= 1 and kept is None) or not jobs:
        out: list[Any] = []
        for fn, args in jobs:
            try:
                out.append(run_limited(fn, *args, limits=limits))
            except (LimitExceeded, RuntimeError, InputError) as e:
                out.append(e)
        return out

    workers = min(workers or worker_count(), len(jobs))
    results: list[Any] = [None] * len(jobs)
    pending = list(range(len(jobs)))
    pending.reverse()  # pop() from the end takes jobs in order
    # (conn, process): workers kept from an earlier call first
    idle: list[tuple[Any, Any]] = kept.pop(limits, []) if kept is not None else []
    busy: dict[Any, tuple[int, Any, float]] = {}  # conn -> (job index, process, deadline)
    try:
        while pending or busy:
            while pending and len(busy) < workers:
                conn, proc = idle.pop() if idle else _start_worker(ctx, limits)
                i = pending.pop()
                try:
                    conn.send(jobs[i])
                except (OSError, ValueError):  # the worker died while idle
                    _reap(conn, proc)
                    pending.append(i)
                    continue
                busy[conn] = (i, proc, time.monotonic() + limits.seconds)
            now = time.monotonic()
            timeout = max(0.0, min(d for _, _, d in busy.values()) - now)
            ready: list[Any] = wait(list(busy), timeout)
            for conn in ready:
                i, proc, _ = busy.pop(conn)
                try:
                    status, value = conn.recv()
                except (EOFError, OSError):  # died: killed by its memory or CPU limit
                    status, value = "memory", None
                results[i] = _outcome(status, value, limits)
                if status == "ok":
                    idle.append((conn, proc))
                else:  # failed, killed, or retiring
                    _reap(conn, proc)
            now = time.monotonic()
            for conn, (i, proc, deadline) in list(busy.items()):
                if now >= deadline:
                    busy.pop(conn)
                    results[i] = LimitExceeded("time", f"{limits.seconds:g} s")
                    _reap(conn, proc)
    finally:
        for conn, (_, proc, _) in busy.items():
            _reap(conn, proc)
        if kept is not None and _kept() is kept:
            kept.setdefault(limits, []).extend(idle)
        else:
            _stop_idle(idle)
    return results


def _stop_idle(idle: list[tuple[Any, Any]]) -> None:
    """End idle workers: every one told first, so that they end side by side."""
    for conn, _ in idle:
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
    for conn, proc in idle:
        _reap(conn, proc, graceful=True)


def _start_worker(ctx: Any, limits: Limits) -> tuple[Any, Any]:
    parent, child = ctx.Pipe(duplex=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see _start
        proc = ctx.Process(target=_worker, args=(child, limits, os.getpid()), daemon=True)
        proc.start()
    child.close()
    return parent, proc


def _outcome(status: str, value: Any, limits: Limits) -> Any:
    if status == "retire":  # a result like "ok"'s, from a worker that then ends
        return value
    if status == "memory":
        return LimitExceeded("memory", f"{limits.memory_mb} MB")
    if status == "error":
        return RuntimeError(str(value))
    if status == "opinionkit":
        return InputError(value[0], hint=value[1])
    return value


def _collect(conn: Any, limits: Limits) -> Any:
    try:
        status, value = conn.recv()
    except (EOFError, OSError):
        return LimitExceeded("memory", f"{limits.memory_mb} MB")
    return _outcome(status, value, limits)


def _reap(conn: Any, proc: Any, graceful: bool = False) -> None:
    """Close the pipe and end the process: killed at once, or (``graceful``, an idle
    worker) given a moment to see the closed pipe and exit by itself."""
    if graceful:
        # Not just the closed pipe: a worker forked later holds a copy of this end.
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
    conn.close()
    if graceful:
        proc.join(1)
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
        proc = ctx.Process(target=_child, args=(send, limits, fn, args, os.getpid()), daemon=True)
        proc.start()
    send.close()
    return recv, proc
