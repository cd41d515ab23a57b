"""Where benchmark work items run: in-process, a local process pool, or a Ray cluster.

Every executor has one method, ``imap(fn, items)``, yielding ``(index, fn(items[index]))`` in
completion order, and ``close(cancel)``. Work items are pure (see :mod:`symest.bench.work`),
so the executor changes wall time only, never a number.

* ``serial``: in this process, one item at a time (tests, debugging, tiny sweeps).
* ``local`` (default): ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start
  method (JAX does not survive ``fork``); ``workers`` defaults to ``os.cpu_count()``.
* ``ray``: Ray tasks (one CPU each). ``address=None`` starts a private local Ray instance
  (``workers`` CPUs); ``"host:port"`` joins a running cluster, whose nodes must have symest
  installed. Ray is the optional extra ``pip install symest[ray]`` and is imported only here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from symest._errors import SymestError

EXECUTORS = ("local", "ray", "serial")
_BROKEN = ("a worker process died (out of memory, killed, or a script that starts a benchmark outside "
           "`if __name__ == '__main__':`, which the spawn start method needs); rerun with executor='serial' to see why")


class SerialExecutor:
    name = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self, cancel: bool = False) -> None:
        pass


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = int(workers or os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        try:
            futures = {self._pool.submit(fn, item): i for i, item in enumerate(items)}
        except BrokenProcessPool:
            futures = {}
            raise SymestError(_BROKEN) from None
        try:
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    raise SymestError(_BROKEN) from None
                yield futures[fut], res
        finally:
            for fut in futures:
                fut.cancel()

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """One-line error when a ``host:port`` (or ``ray://host:port``) address does not answer."""
    hostport = address.removeprefix("ray://")
    if address == "auto" or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        port_no = int(port)
    except ValueError:
        raise SymestError(f"bad Ray address {address!r}: expected host:port") from None
    try:
        with socket.create_connection((host.strip("[]"), port_no), timeout=timeout):
            pass
    except OSError as e:
        raise SymestError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}") from None


class RayExecutor:
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise SymestError("executor 'ray' needs Ray: pip install 'symest[ray]'") from None
        self._ray = ray
        self.address = address
        self._started = False
        if address is not None:
            _check_reachable(address)
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
            if address is None:
                kw["num_cpus"] = int(workers or os.cpu_count() or 1)
            try:
                ray.init(address=address, **kw)
            except Exception as e:
                where = f"at {address}" if address else "locally"
                raise SymestError(f"cannot start Ray {where}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                  ) from None
            self._started = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote: dict[Callable[[Any], Any], Any] = {}

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        if fn not in self._remote:
            self._remote[fn] = ray.remote(num_cpus=1)(fn)
        remote = self._remote[fn]
        refs = {remote.remote(item): i for i, item in enumerate(items)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self, cancel: bool = False) -> None:
        if self._started:
            self._ray.shutdown()


def make_executor(kind: str = "local", workers: int | None = None, address: str | None = None) -> Any:
    """An executor by name (``local``, ``ray`` or ``serial``)."""
    if workers is not None and int(workers) < 1:
        raise SymestError(f"workers must be at least 1, got {workers}")
    if address is not None and kind != "ray":
        raise SymestError(f"--address is for the ray executor, not {kind!r}")
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, address)
    raise SymestError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
