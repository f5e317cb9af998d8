r"""The LaTeX tables (`zsarbench tables`, report/latex.py) as a paper uses them: each tableN.tex and orderings.tex,
\input into a standard article with the packages its header names, compiles with pdflatex and fits
the text width (no "Overfull \hbox"), in one column and in two (where a `table` must fit the column
and a `table*` the page); every float has a caption without a "Table N." of its own and a unique label."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, needs

from zsarbench.report.load import load_results
from zsarbench.report.tables import write_tables

# what the files may ask for: all in TeX Live's latex-base/latex-recommended (Debian's texlive-latex-base
# and texlive-latex-recommended), so any TeX installation that has booktabs has them
STANDARD = {"booktabs", "amssymb", "array", "tabularx", "graphicx"}


@pytest.fixture(scope="module")
def tex_files(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("tables")
    write_tables(load_results(ROOT / "results"), out)
    files = {p.stem: p.read_text() for p in sorted(out.glob("*.tex"))}
    assert set(files) == {*(f"table{i}" for i in range(1, 10)), "orderings"}
    return files


def packages(tex: str) -> list[str]:
    """The packages a file's header comment says it needs."""
    header = [line for line in tex.splitlines() if line.startswith("%")]
    return [p.strip() for m in re.findall(r"\\usepackage\{([^}]*)\}", "\n".join(header)) for p in m.split(",")]


def compile_one(stem: str, tex: str, workdir: Path, options: str) -> str:
    """tableN.tex \\input into a minimal article that loads only the packages its header names; the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{stem}.tex").write_text(tex)
    doc = "\n".join([rf"\documentclass[{options}]{{article}}", rf"\usepackage{{{','.join(packages(tex))}}}",
                     r"\begin{document}", rf"\input{{{stem}}}", r"\end{document}", ""])
    (workdir / f"doc-{stem}.tex").write_text(doc)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                        f"doc-{stem}.tex"], cwd=workdir, capture_output=True, text=True, timeout=120)
    log = (workdir / f"doc-{stem}.log").read_text(errors="replace")
    if r.returncode != 0:
        pytest.fail(f"pdflatex failed on {stem}.tex ({options}):\n" + "\n".join(log.splitlines()[-40:]))
    return log


@pytest.mark.parametrize("options", ["10pt", "10pt,twocolumn"])
def test_tables_compile_and_fit_the_text_width(tex_files, tmp_path, options):
    needs(shutil.which("pdflatex"), "pdflatex not installed: apt-get install texlive-latex-base texlive-latex-recommended")
    for stem, tex in tex_files.items():
        assert packages(tex), f"{stem}.tex: its header names the packages it needs"
        assert set(packages(tex)) <= STANDARD, f"{stem}.tex needs {set(packages(tex)) - STANDARD}"
    logs = {stem: compile_one(stem, tex, tmp_path, options) for stem, tex in tex_files.items()}
    problems = [f"{stem}.tex: {m.group(0)}" for stem, log in logs.items()
                for m in re.finditer(r"Overfull \\hbox \(([\d.]+)pt too wide\)[^\n]*|Float too large[^\n]*"
                                     r"|Missing character[^\n]*|Font shape [^\n]*undefined[^\n]*", log)]
    assert not problems, f"{len(problems)} overfull boxes or missing glyphs ({options}):\n" + "\n".join(problems)


def test_captions_and_labels(tex_files):
    labels = []
    for stem, tex in tex_files.items():
        floats = re.findall(r"\\begin\{(table\*?)\}(.*?)\\end\{\1\}", tex, flags=re.S)
        assert floats, stem
        for _, body in floats:
            captions = re.findall(r"\\caption\{([^\n]*)\}", body)
            assert len(captions) == 1, f"{stem}: one caption per float"
            assert not re.match(r"Table \d", captions[0]), f"{stem}: LaTeX numbers the table itself: {captions[0]}"
            found = re.findall(r"\\label\{(tab:[^}]+)\}", body)
            assert len(found) == 1, f"{stem}: one label per float"
            labels += found
    assert len(labels) == len(set(labels)), "labels are unique across the tables"
