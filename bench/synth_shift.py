"""Measure a synthetic domain shift: run any zsarbench command on a variant of the synthetic
benchmark whose declared nuisances (zsarbench/data/synth.py NUISANCES) are changed.

    python bench/synth_shift.py VARIANT zsarbench-arguments...
    python bench/synth_shift.py source-covers-dimmed run rest18 -p synth-ucf-0-50,synth-hmdb-0-50 \
        --seed 0 --results-dir /tmp/shift-results

The variant's data goes to its own cache folder (the folder key hashes the nuisances), its results
files record the nuisances they were rendered with (data.source/target.nuisances). This is how the
format-7 choice for the HMDB analog was measured (docs/synthetic.md).
"""

from __future__ import annotations

import sys
from dataclasses import replace

from zsarbench.data import synth

# name -> {domain: changed nuisances}
VARIANTS = {
    "format7": {},                                                    # as declared
    "format6-dimmed": {"hmdb": {"object_brightness": (0.595, 0.7)}},   # format 6: hmdb objects x 0.7
    "source-covers-dimmed": {"kinetics": {"object_brightness": (0.55, 1.0)},
                             "hmdb": {"object_brightness": (0.595, 0.7)}},
    # format-8 candidates: the HMDB analog's remaining nuisances moved inside the source's ranges
    "hmdb-noise10": {"hmdb": {"noise": 10.0}},
    "hmdb-bg20": {"hmdb": {"background_level": (20, 63)}},
    "hmdb-size": {"hmdb": {"object_size": (0.20, 0.26)}},
    "hmdb-in-source": {"hmdb": {"background_level": (20, 63), "noise": 8.0, "distractors": (1, 2),
                                "object_size": (0.20, 0.24)}},
}


def apply(name: str) -> None:
    if name not in VARIANTS:
        sys.exit(f"error: unknown variant '{name}'; variants: {', '.join(VARIANTS)}")
    for domain, changes in VARIANTS[name].items():
        synth.NUISANCES[domain] = replace(synth.NUISANCES[domain], **changes)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    apply(sys.argv[1])
    from zsarbench.cli import entry

    sys.argv = ["zsarbench", *sys.argv[2:]]
    entry()
