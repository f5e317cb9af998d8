"""Size of the per-video predictions file (predictions.py) of a UCF101 0/50 run, from a generated file
of that shape: 101 classes named like UCF101's, 13,320 videos with UCF101's relative paths
(<Class>/v_<Class>_gNN_cNN.avi, 25 groups), 10 splits of 50 unseen classes, each
split's videos scored against its 50 candidates (random cosine scores: nothing compresses them
better than real ones would be). Written through predictions.write_predictions, as a run writes it.

    python bench/predictions_size.py        # prints rows, bytes and bytes per row
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from zsarbench.predictions import Predictions, split_predictions, write_predictions  # noqa: E402
from zsarbench.protocol import make_splits  # noqa: E402


def ucf101_like(rng) -> tuple[list[str], list[str], np.ndarray]:
    words = ["Apply", "Eye", "Makeup", "Basketball", "Dunk", "Playing", "Cello", "Horse", "Riding", "Walking"]
    classes = sorted({"".join(rng.choice(words, 3)) + str(i) for i in range(101)})
    videos, labels = [], []
    for c, name in enumerate(classes):           # 13,320 videos as UCF101: 131 or 132 per class
        for k in range(131 + (c < 89)):
            videos.append(f"{name}/v_{name}_g{k % 25 + 1:02d}_c{k // 25 + 1:02d}.avi")
            labels.append(c)
    return classes, videos, np.array(labels)


def main() -> None:
    rng = np.random.default_rng(0)
    classes, videos, labels = ucf101_like(rng)
    splits = []
    for s, unseen in enumerate(make_splits(len(classes), "0/50", 10)):
        sel = np.flatnonzero(np.isin(labels, unseen))
        y = np.searchsorted(np.asarray(unseen), labels[sel])
        scores = rng.uniform(-0.2, 0.9, size=(len(sel), len(unseen))).astype(np.float64)
        splits.append(split_predictions(s, scores, y, unseen, [videos[i] for i in sel]))
    with tempfile.TemporaryDirectory() as tmp:
        rec = write_predictions(Path(tmp) / "ucf101-0-50.json", {"run": Predictions(classes, splits)})
    print(json.dumps({"classes": len(classes), "videos": len(videos), "rows": rec["n_rows"], "bytes": rec["bytes"],
                      "bytes_per_row": round(rec["bytes"] / rec["n_rows"], 1)}))


if __name__ == "__main__":
    main()
