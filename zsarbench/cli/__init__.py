"""The `zsarbench` command line: commands only parse, call the library and print.

  app.py          the group and the entry point (errors -> one line, exit 2)
  common.py       consoles, progress, the shared experiment options, the context they build
  experiments.py  run, ablate NAME (one command per ablation of paper_tables.py)
  reports.py      tables, figures, ls, show, validate
  datasets.py     data synth|cache|check, labels, overlap
  evidence.py     compare, bundle, verify, confusion (per-video predictions: predictions.py)
  printing.py     the terminal view of a results document
"""

from .app import entry, main

__all__ = ["entry", "main"]
