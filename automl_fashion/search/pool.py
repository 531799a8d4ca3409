"""The search's worker processes: started, watched, replaced when one dies, stopped.

Each worker is a fresh interpreter (``spawn``) that talks to the search over a pipe: a worker
that dies (``kill -9``, out of memory) has its trial failed and queued again and is replaced;
when the search dies, each worker sees its pipe close and ends itself (see ``worker``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import optuna

from automl_fashion.search.config import SearchConfig
from automl_fashion.search.worker import EXIT_HARD_DEADLINE, FAILURE_STREAK, WorkerJob, run_worker
from automl_fashion.storage import recover_stale_trials

if TYPE_CHECKING:
    from automl_fashion.search.loop import SearchProgress

#: A worker that dies is replaced only if this many seconds are left before ``soft``
#: (a new process needs a few seconds to import and load the data).
RESTART_MARGIN = 5.0


@dataclass
class PoolWorker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    index: int
    result: dict[str, Any] | None = None


@dataclass
class WorkerPool:
    """The search's worker processes: started, watched, replaced when one dies, stopped.

    Each is a fresh interpreter (``spawn``), so that it can end itself at the hard deadline
    without ending the search, and a crash in one is only that one's.
    """

    config: SearchConfig
    soft: float
    hard: float
    threads: int
    started: float
    #: Workers that die are replaced until this many have died (a crash loop ends).
    max_deaths: int = 4
    workers: list[PoolWorker] = field(default_factory=list)
    reaped: set[int] = field(default_factory=set)
    stopping: str | None = None
    breaker: str | None = None
    error: BaseException | None = None
    error_traceback: str = ""
    gave_up: str | None = None  # why dead workers were no longer replaced
    deaths: list[int | None] = field(default_factory=list)  # exit codes of dead workers
    interrupted: bool = False

    def start(self, seed: int | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe(duplex=True)
        job = WorkerJob(
            self.config,
            len(self.workers),
            self.soft,
            self.hard,
            self.threads,
            seed=seed,
            started=self.started,
        )
        process = ctx.Process(
            target=run_worker,
            args=(job, theirs),
            name=f"automl-fashion-worker-{job.index}",
        )
        process.start()
        theirs.close()  # the worker's end lives in the worker only: its EOF means we died
        self.workers.append(PoolWorker(process, mine, job.index))

    def live(self) -> list[PoolWorker]:
        return [w for w in self.workers if w.process.exitcode is None]

    def watch(self, study: optuna.Study, progress: SearchProgress | None, show: Any) -> None:
        """Until every worker has ended (or the hard deadline): replace dead ones, stop all
        on Ctrl-C, SIGTERM, a failure streak or an error."""
        last_show = 0.0
        while self.live() and time.time() < self.hard + 2.0:
            try:
                live = self.live()
                waiting = [w.conn for w in live if w.result is None]
                wait([w.process.sentinel for w in live] + waiting, timeout=1.0)
                self._reap(study)
                if time.time() - last_show >= 1.0:
                    show()
                    last_show = time.time()
            except KeyboardInterrupt:
                if self.interrupted:  # the second Ctrl-C: no more waiting
                    return
                self.interrupted = True
                self.stop("interrupted by the user")
                if progress is not None:
                    progress.message(
                        "Stopping: each trial ends at its next rung (Ctrl-C again to kill)"
                    )

    def _reap(self, study: optuna.Study) -> None:
        for w in self.workers:
            if w.result is None:
                with contextlib.suppress(EOFError, OSError):
                    if w.conn.poll():
                        w.result = w.conn.recv()
                        self._take(w.result)
            if w.process.exitcode is None or w.index in self.reaped:
                continue
            self.reaped.add(w.index)
            w.process.join()
            with contextlib.suppress(EOFError, OSError):  # sent just before it ended
                if w.result is None and w.conn.poll():
                    w.result = w.conn.recv()
                    self._take(w.result)
            w.conn.close()
            if w.result is not None or w.process.exitcode == EXIT_HARD_DEADLINE:
                continue
            # died without a word (kill -9, out of memory): fail its trial, queue it again
            self.deaths.append(w.process.exitcode)
            recover_stale_trials(study, retry=True)
            if self.stopping is not None or time.time() >= self.soft - RESTART_MARGIN:
                continue
            if len(self.deaths) <= self.max_deaths:
                self.start()
            elif self.gave_up is None:
                self.gave_up = (
                    f"{len(self.deaths)} worker processes died (exit codes {self.deaths}); "
                    "not starting more (out of memory? see the system log)"
                )
                self.stop("interrupted: worker processes kept dying")

    def _take(self, result: dict[str, Any]) -> None:
        if "error" in result:
            error = result["error"]
            if not isinstance(error, BaseException):
                error = RuntimeError(f"a worker failed:\n{result.get('traceback', '')}")
            if self.error is None:
                self.error = error
                self.error_traceback = str(result.get("traceback", ""))
            self.stop("interrupted: another worker of this search failed")
        elif result.get("breaker") is not None and self.breaker is None:
            self.breaker = str(result["breaker"])
            self.stop(f"interrupted: {FAILURE_STREAK} trials in a row failed")

    def stop(self, reason: str) -> None:
        """Ask every live worker to end its trial at the next rung, and start no more."""
        self.stopping = self.stopping or reason
        for w in self.live():
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(reason)

    def kill(self) -> None:
        """End whatever still runs (past the hard deadline, or a second Ctrl-C)."""
        for w in self.workers:
            if w.process.exitcode is None:
                w.process.kill()
        for w in self.workers:
            w.process.join()
            with contextlib.suppress(OSError):
                w.conn.close()
