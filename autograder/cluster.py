"""Grading on a Dask cluster: one task per notebook, a warm sealed grading worker per Dask worker.

    python -m autograder grade SUBMISSIONS --out OUT --scheduler tcp://HOST:PORT

The client (the machine that holds the submissions and the output) reads and
checks every file itself, then sends each notebook's JSON as a task's payload,
so the Dask workers need the course's repository and virtual environment but
no shared file system. Each Dask worker keeps one :class:`autograder.grading.Worker`
— a kernel factory started with ``subprocess`` (Dask's worker processes are
daemonic and cannot have ``multiprocessing`` children) and a source-rules
process — installed by :class:`GradingPlugin` and used one notebook at a time.
Every task runs :func:`autograder.engine.grade_notebook`, the same engine as a
local run, and returns the result as JSON with the worker's address.

Before grading, every worker grades each assignment's canary
(:func:`autograder.grading.canary`). A worker that dies mid-run costs nothing:
Dask gives its tasks to another worker. A notebook that keeps failing for
reasons of the machinery is reported, not graded, and the command exits 3.

Start a cluster with ``dask scheduler`` and ``dask worker tcp://HOST:PORT --nthreads 1``
(one notebook at a time per worker process; use ``--nworkers`` for more), on
Slurm/PBS/SGE with dask-jobqueue or on Kubernetes with dask-kubernetes; see README.md.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterable

from distributed import Client, WorkerPlugin, as_completed, get_worker

PLUGIN = "rnncourse-grading"
RETRIES = 2  # a task that failed for reasons of the machinery is tried this many more times


class GradingPlugin(WorkerPlugin):
    """Gives each Dask worker its own warm grading worker (kernel factory + source-rules process)."""

    name = PLUGIN

    def setup(self, worker) -> None:
        from autograder.grading import Worker

        self.grader = Worker()
        self.lock = threading.Lock()  # one kernel at a time per factory

    def teardown(self, worker) -> None:
        self.grader.close()


def _plugin() -> GradingPlugin:
    return get_worker().plugins[PLUGIN]


def _grade_task(student: str, aid: str, nb: dict, limits: dict) -> tuple[str, str]:
    """On a Dask worker: grade one notebook. InfrastructureError makes the task fail (and be retried)."""
    from autograder.kernels import InfrastructureError
    from autograder.limits import Limits
    from autograder.notebooks import load_assignment

    plugin = _plugin()
    with plugin.lock:
        try:
            result = plugin.grader.grade(nb, student, load_assignment(aid), Limits(**limits))
        except InfrastructureError as err:
            plugin.grader.close()  # a fresh factory for the next try
            raise RuntimeError(f"grading machinery: {err}") from None  # an Exception, which Dask retries
    return result.to_json(), get_worker().address


def _canaries_here(aids: list[str], limits: dict, dask_worker=None) -> tuple[dict, str | None]:
    """On every Dask worker (``Client.run``): the canary of each assignment; the sandbox layers and the first
    problem."""
    from autograder.grading import canary
    from autograder.kernels import InfrastructureError
    from autograder.limits import Limits
    from autograder.notebooks import load_assignment

    plugin = dask_worker.plugins[PLUGIN]
    layers: dict = {}
    with plugin.lock:
        for aid in aids:
            try:
                result, problem = canary(load_assignment(aid), plugin.grader, Limits(**limits))
            except InfrastructureError as err:
                return layers, str(err)
            layers = result.layers or layers
            if problem:
                return layers, problem
    return layers, None


class Cluster:
    """The client's side: connect, install the plugin, run the canaries, stream results back."""

    def __init__(self, address: str) -> None:
        self.client = Client(address, timeout="60s")
        self.client.register_plugin(GradingPlugin(), name=PLUGIN)

    @property
    def workers(self) -> list[str]:
        return sorted(self.client.scheduler_info()["workers"])

    def canaries(self, aids: list[str], limits: dict) -> tuple[dict, str | None]:
        """Run every canary on every worker; the layers of one and the first problem of any (with its worker)."""
        outcomes = self.client.run(_canaries_here, aids, limits)
        if not outcomes:
            return {}, "the cluster has no worker"
        layers = next(iter(outcomes.values()))[0]
        for address, (_, problem) in sorted(outcomes.items()):
            if problem:
                return layers, f"on worker {address}: {problem}"
        return layers, None

    def grade(self, jobs: Iterable[tuple[str, str, dict]], limits: dict,
              on_result: Callable[[str, str, str, str], None]) -> list[str]:
        """Grade ``(student, aid, notebook JSON)`` jobs; ``on_result(student, aid, result JSON, worker)`` as
        each arrives. Returns the notebooks that failed for reasons of the machinery, with why."""
        futures = {}
        for student, aid, nb in jobs:
            fut = self.client.submit(_grade_task, student, aid, nb, limits, key=f"grade-{aid}-{student}",
                                     retries=RETRIES, pure=False)
            futures[fut] = (student, aid)
        failures = []
        for fut in as_completed(futures):
            student, aid = futures[fut]
            if fut.status == "finished":
                text, worker = fut.result()
                try:
                    on_result(student, aid, text, worker)
                except (OSError, ValueError) as err:
                    failures.append(f"{student}/{aid}: its result cannot be stored ({err})"[:500])
            else:
                failures.append(f"{student}/{aid}: {fut.exception()!r}"[:500])
            fut.release()
        return failures

    def close(self) -> None:
        self.client.close()
