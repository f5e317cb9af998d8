"""Live training curves (--tensorboard DIR): scalars written from rank 0 with torch.utils.tensorboard,
one run folder per (protocol, method, seed) under DIR, so `tensorboard --logdir DIR` shows a long run
while it trains. Scalars (step: the optimiser step within the stage):

  train/<stage>/loss                 the step's mean loss (every step on the CPU; every 10th on a GPU,
                                     where reading it waits for the device)
  train/<stage>/lr                   the learning rate of the step (cosine schedule)
  train/<stage>/clips_per_s          clips per second over the steps since the last point
  train/<stage>/data_wait_fraction   the share of that time the step waited for its batch (the loader)
  train/<stage>/loss_epoch           the mean loss of each epoch (step: the epoch)
  eval/seen_cv_top1, eval/top1       seen-class CV and the ZSAR top-1 over splits, once scored

Without --tensorboard nothing is imported or written."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from . import dist

_writer = None


def active() -> bool:
    return _writer is not None


def scalar(tag: str, value: float, step: int) -> None:
    if _writer is not None:
        _writer.add_scalar(tag, float(value), step)


@contextmanager
def run_curves(folder: Path | None, name: str):
    """Within the block, scalar() writes to folder/name (rank 0; elsewhere, or without a folder, nowhere)."""
    global _writer
    if folder is None or not dist.is_main():
        yield None
        return
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(Path(folder) / name))
    previous, _writer = _writer, writer
    try:
        yield writer
    finally:
        _writer = previous
        writer.close()
