"""Progress for a stderr that is not a terminal (a log file, CI, a pipe): whole lines instead of bars.

rich draws bars for a terminal; written to a file they come out once, cut to 80 columns. Here each
task prints a line with its count, percent, elapsed time, rate and ETA in full when it has moved
another `step` of its total (at least `min_gap` seconds after its last line) or every `max_gap`
seconds, and a last line when it completes. It offers the part of rich.progress.Progress the
pipeline uses: add_task, update, advance, console, and use as a context manager.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def clock(seconds: float) -> str:
    s = int(round(max(seconds, 0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float
    start_completed: float
    started: float = field(default_factory=time.monotonic)
    printed_at: float = 0.0        # time of the last line
    printed_fraction: float = 0.0  # fraction done at the last line
    finished: bool = False


class LineProgress:
    def __init__(self, console, disable: bool = False, step: float = 0.1, min_gap: float = 2.0,
                 max_gap: float = 30.0, clock=time.monotonic):
        self.console, self.disable = console, disable
        self.step, self.min_gap, self.max_gap, self._clock = step, min_gap, max_gap, clock
        self._tasks: dict[int, _Task] = {}

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:   # a task left unfinished (stopped early) gets its last line
            for task in self._tasks.values():
                if not task.finished and task.completed > task.start_completed:
                    self._print(task)

    def add_task(self, description: str, total: float | None = 100.0, completed: float = 0, **_) -> int:
        now = self._clock()
        task_id = len(self._tasks)
        self._tasks[task_id] = _Task(description, total, completed, completed, now, now,
                                     completed / total if total else 0.0)
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, description: str | None = None, **_) -> None:
        task = self._tasks[task_id]
        if description is not None:
            task.description = description
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance:
            task.completed += advance
        if task.finished or not (advance or completed is not None or total is not None):
            return
        now, fraction = self._clock(), task.completed / task.total if task.total else 0.0
        done = task.total is not None and task.completed >= task.total
        gap = now - task.printed_at
        if done or gap >= self.max_gap or (gap >= self.min_gap and fraction - task.printed_fraction >= self.step):
            self._print(task, now)

    def line(self, task: _Task, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        elapsed = now - task.started
        rate = (task.completed - task.start_completed) / elapsed if elapsed > 0 else 0.0
        count = f"{task.completed:g}" + (f"/{task.total:g} ({100 * task.completed / task.total:.0f}%)"
                                         if task.total else "")
        text = f"{task.description}: {count}, {clock(elapsed)} elapsed, {rate:.3g}/s"
        if task.total and task.completed >= task.total:
            return text + ", done"
        if task.total and rate > 0:
            return text + f", eta {clock((task.total - task.completed) / rate)}"
        return text + ", eta unknown"

    def _print(self, task: _Task, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        task.printed_at, task.printed_fraction = now, task.completed / task.total if task.total else 0.0
        task.finished = task.total is not None and task.completed >= task.total
        if not self.disable:
            self.console.print(self.line(task, now), markup=False, highlight=False, soft_wrap=True)
