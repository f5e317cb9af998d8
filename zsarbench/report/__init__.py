"""Reports from results files: the loader (load.py), the paper's tables (tables.py) and figures
(figures.py). projection.py holds the t-SNE map that `run` stores for Fig. 4."""
