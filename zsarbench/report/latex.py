r"""LaTeX of the report tables (`zsarbench tables` writes results/tables/tableN.tex), for \input into
a paper. The Markdown (tables.py) is the full record; this is its typeset form.

Each grid is one float: a caption (the table's title without its "Table N.", which LaTeX adds), a
unique \label{tab:<table>-<synthetic|real>[-<part>]} or \label{tab:<paper.toml section>-paper}, a
booktabs tabular with short column labels, and a note in \footnotesize under it (the benchmark, the
protocol of each column, the table's notes, what a cell holds). Short labels: a column's protocol
moves from its label to the note, columns that share a dataset ('UCF101 0/50', 'UCF101 0/100') or a
name ('skew psi_1 (Eq. 10)', '... (sample)') get one spanning label over \cmidrule, a column with no
such protocol on the benchmark (all n/a) is left out and the note says so.

The layout is the first in `_LAYOUTS` whose estimated width fits: `table` (one column of a two-column
paper, COLUMN_PT) at \small, at \footnotesize with narrower column padding, at \small with the first
column wrapping (tabularx X); then `table*` (the text width; TEXT_PT, a one-column article) at \small,
with the first column wrapping, at \footnotesize, at \footnotesize wrapping; the last resort shrinks
the \footnotesize tabular to \linewidth (\resizebox, never enlarging). Widths are estimated from the
Computer Modern glyph widths of what each cell prints (within about 1pt of what pdflatex sets);
tests/test_latex.py compiles every table in a one- and a two-column article and fails on any
overfull box.

Packages: booktabs always; amssymb (\checkmark), tabularx (loads array) and graphicx (\resizebox)
where a file uses them. Each file's header comment names its own; all are in TeX Live's latex-base
and latex-recommended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}",
       "<": r"\textless{}", ">": r"\textgreater{}", "±": r"$\pm$", "✓": r"\checkmark", "×": r"$\times$",
       "ψ": r"$\psi$", "†": r"\textsuperscript{\dag}", "‡": r"\textsuperscript{\ddag}"}
# what a numeric cell holds, with the marks of report/marks.py after it
NUMBER = (r"-|n/a|([\d.]+( ± [\d.]+)?( \(n=\d+(; splits ± [\d.]+)?\))?|[\d.]+ × [\d.]+)‡?"
          r"( \((collapsed: \d+ of \d+ splits|\d+ of \d+ splits collapsed)\))?( \(did not train: [a-z, ]+\))?")
PRETTY = {"psi_1": r"$\psi_1$"}      # words typeset as mathematics (the Markdown keeps the plain text)

COLUMN_PT, TEXT_PT = 229.5, 345.0   # standard article (10pt): one column of twocolumn, the one-column text
FILL = 0.96                         # share of the width an estimate may take (the estimate is approximate)
NOTE_SIZE = r"\footnotesize"

# advance widths of Computer Modern Roman 10pt in em (cmr10.tfm); a size's own font is a little wider
EM = dict(zip(" !\"#$%&'()*+,-./0123456789:;=?@[]`", [
    0.333, 0.278, 0.5, 0.833, 0.5, 0.833, 0.778, 0.278, 0.389, 0.389, 0.5, 0.778, 0.278, 0.333, 0.278, 0.5,
    *[0.5] * 10, 0.278, 0.278, 0.778, 0.472, 0.778, 0.278, 0.278, 0.278]))
EM.update(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [0.75, 0.708, 0.722, 0.764, 0.681, 0.653, 0.785, 0.75, 0.361, 0.514,
                                             0.778, 0.625, 0.917, 0.75, 0.778, 0.681, 0.778, 0.736, 0.556, 0.722,
                                             0.75, 0.75, 1.028, 0.75, 0.75, 0.611]))
EM.update(zip("abcdefghijklmnopqrstuvwxyz", [0.5, 0.556, 0.444, 0.556, 0.444, 0.306, 0.5, 0.556, 0.278, 0.306,
                                             0.528, 0.278, 0.833, 0.556, 0.5, 0.556, 0.528, 0.392, 0.394, 0.389,
                                             0.556, 0.528, 0.722, 0.528, 0.528, 0.444]))
EM.update({"±": 0.778, "‡": 0.4, "†": 0.4, "×": 0.778, "✓": 0.833, "ψ": 0.651, "_": 0.36, "|": 0.278, "<": 0.778, ">": 0.778,
           "{": 0.5, "}": 0.5, "~": 0.5, "^": 0.5, "\\": 0.5})
SIZES = {r"\small": 9.0 * 1.03, r"\footnotesize": 8.0 * 1.07}     # pt per em, with the optical-size widening


def tex_escape(s) -> str:
    """Text as LaTeX prints it literally (the symbols the tables use included)."""
    return "".join(TEX.get(ch, ch) for ch in str(s))


def tex_text(s) -> str:
    """A cell or label: escaped, with PRETTY words as mathematics."""
    parts = re.split("(" + "|".join(map(re.escape, PRETTY)) + ")", str(s))
    return "".join(PRETTY.get(p) or tex_escape(p) for p in parts)


def tex_prose(s) -> str:
    """A caption or note: tex_text, with "quotes" as LaTeX quotes and `code` in typewriter type."""
    out = []
    for k, part in enumerate(str(s).split("`")):
        part = re.sub(r'"([^"]*)"', lambda m: "\0" + m.group(1) + "\1", part)
        text = tex_text(part).replace("\0", "``").replace("\1", "''")
        if k % 2:                   # typewriter fonts have | < > themselves
            text = text.replace(TEX["|"], "|").replace(TEX["<"], "<").replace(TEX[">"], ">")
        out.append(rf"\texttt{{{text}}}" if k % 2 else text)
    return "".join(out)


def width(s, size: str) -> float:
    """Estimated printed width of a cell's text in pt."""
    s = str(s)
    for word in PRETTY:
        s = s.replace(word, "ψ_")        # psi_1: about as wide
    return sum(EM.get(ch, 0.75) for ch in s) * SIZES[size]


def short_title(title: str) -> str:
    """'Table 3. Transformer model (UCF101)' -> 'Transformer model (UCF101)': LaTeX numbers floats."""
    return re.sub(r"^Table\s+\d+[a-z]?[.:]\s*", "", title)


# ----------------------------------------------------------------------------- columns

DATASETS = (("synth-ucf", "UCF101"), ("synth-hmdb", "HMDB51"), ("ucf101", "UCF101"), ("hmdb51", "HMDB51"),
            ("activitynet", "ActivityNet"))
GROUPS = ("UCF101", "HMDB51", "ActivityNet", "UCF", "HMDB")     # header words that head a column group


def dataset(protocol: str) -> str:
    return next((name for prefix, name in DATASETS if protocol.startswith(prefix)), protocol)


def _strip(text: str, names: set[str]) -> str:
    """'UCF101 0/50 (synth-ucf-0-50)' -> 'UCF101 0/50' where the parenthesis names a protocol (or n/a)."""
    m = re.fullmatch(r"(.*\S)\s+\(([^()]*)\)", text)
    return m.group(1) if m and m.group(2) in names | {"n/a"} else text


@dataclass
class Column:
    label: str
    cells: list[str]
    protocols: tuple = ()           # those of its Cells (ours); () for text columns and the paper's
    results: bool = False           # a column of Cells (ours)

    def na(self) -> bool:
        return self.results and not self.protocols


def columns(header: list[str], rows: list[list[str]], cells: list[list] | None) -> list[Column]:
    """The grid's columns with short labels: a column of Cells loses the protocol its label names;
    labels that then coincide get the protocol's dataset in front ('0/50' -> 'UCF101 0/50')."""
    cols = []
    for j, label in enumerate(header):
        raw = [row[j] for row in cells] if cells else []
        protos = tuple(sorted({c.protocol for c in raw if hasattr(c, "protocol") and c.protocol}))
        is_results = any(hasattr(c, "protocol") for c in raw)
        cols.append(Column(_strip(str(label), set(protos)) if is_results else str(label),
                           [str(row[j]) for row in rows], protos, is_results))
    labels = [c.label for c in cols]
    for c in cols:
        if labels.count(c.label) > 1 and c.protocols:
            c.label = f"{dataset(c.protocols[0])} {c.label}"
    return cols


def _unique_method(text: str) -> str:
    """'rest18_cls_only (rest18_cls_only)' -> 'rest18_cls_only' (the name and the id are one)."""
    m = re.fullmatch(r"(.+) \((.+)\)", text)
    return m.group(1) if m and m.group(1) == m.group(2) else text


# ----------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class Layout:
    env: str                        # table (a column) or table* (the text width)
    size: str                       # \small or \footnotesize
    colsep: float                   # \tabcolsep in pt (6 is LaTeX's default)
    wrap: bool = False              # the first column wraps (tabularx X); the tabular is \linewidth wide
    resize: bool = False            # shrunk to \linewidth with \resizebox: the last resort

    def target(self) -> float:
        return (COLUMN_PT if self.env == "table" else TEXT_PT) * FILL


_LAYOUTS = [Layout("table", r"\small", 6.0), Layout("table", r"\footnotesize", 4.0),
            Layout("table", r"\small", 6.0, wrap=True),
            Layout("table*", r"\small", 6.0), Layout("table*", r"\small", 6.0, wrap=True),
            Layout("table*", r"\footnotesize", 4.0), Layout("table*", r"\footnotesize", 4.0, wrap=True)]
_LAST_RESORT = Layout("table*", r"\footnotesize", 4.0, resize=True)


def _split(label: str) -> tuple[str, str, str] | None:
    """(group label, own label, kind) of a column label that can share a spanning label: 'UCF101 0/50'
    (a dataset, then the rest) or 'skew psi_1 (Eq. 10)' (a name, then a parenthesis)."""
    m = re.fullmatch(r"(.*\S)\s+\(([^()]+)\)", label)
    if m:
        return m.group(1), m.group(2), "paren"
    head = label.split(" ", 1)
    return (head[0], head[1], "dataset") if len(head) == 2 and head[0] in GROUPS else None


@dataclass
class Header:
    r"""Column labels in one row, or two: spanning labels (label, first, last) over \cmidrule, and
    below them the columns' own labels (`own`; a column in no span keeps its whole label there)."""
    spans: list
    own: list[str]

    @classmethod
    def of(cls, cols: list[Column]) -> Header:
        """Runs of adjacent columns (not the first) that share a dataset or a name span them, when a
        run has two columns or more; a single dataset column then gets a span of its own too."""
        parts = [_split(c.label) if j else None for j, c in enumerate(cols)]
        spans, j = [], 1
        while j < len(cols):
            k = j
            while parts[j] and k + 1 < len(cols) and parts[k + 1] and parts[k + 1][::2] == parts[j][::2]:
                k += 1
            if parts[j] and (k > j or parts[j][2] == "dataset"):
                spans.append((parts[j][0], j, k))
            j = k + 1
        if not any(b > a for _, a, b in spans):
            spans = []
        inside = {j for _, a, b in spans for j in range(a, b + 1)}
        return cls(spans, [parts[j][1] if j in inside else c.label for j, c in enumerate(cols)])


def _widths(cols: list[Column], head: Header, size: str, colsep: float) -> list[float]:
    """Natural width of each column's content in pt (a span's label wider than its columns widens the last)."""
    w = [max([width(own, size), *[width(x, size) for x in c.cells]]) for own, c in zip(head.own, cols)]
    for label, a, b in head.spans:
        span = sum(w[a:b + 1]) + 2 * colsep * (b - a)
        w[b] += max(0.0, width(label, size) - span)
    return w


def _min_wrap(col: Column, size: str) -> float:
    """The narrowest a wrapping column may be: its longest word, and 6 em."""
    words = [w for text in (col.label, *col.cells) for w in text.split()]
    return max([6 * SIZES[size], *[width(w, size) for w in words]])


def choose(cols: list[Column], head: Header) -> Layout:
    """The first layout whose estimated width fits its float (wrapping: with the first column at its
    narrowest)."""
    for lay in _LAYOUTS:
        w = _widths(cols, head, lay.size, lay.colsep)
        total = sum(w) + 2 * lay.colsep * len(cols)
        if lay.wrap:
            if not any(" " in c for c in cols[0].cells) or w[0] <= _min_wrap(cols[0], lay.size):
                continue                        # nothing to wrap: the plain layout decided it
            total += _min_wrap(cols[0], lay.size) - w[0]
        if total <= lay.target():
            return lay
    return _LAST_RESORT


# ----------------------------------------------------------------------------- floats

def _align(col: Column, j: int, size: str) -> str:
    """Results, numbers and short text (a check mark, S or V) centred; other text to the left."""
    if col.results or j and (max(width(c, size) for c in col.cells) < 4 * SIZES[size]
                             or all(re.fullmatch(NUMBER, c) for c in col.cells)):
        return "c"
    return "l"


def float_lines(caption: str, label: str, cols: list[Column], note: list[str], groups: dict | None = None
                ) -> tuple[list[str], set[str]]:
    """One float (a grid): its lines and the packages they need. groups: row index -> the label of a
    group of rows starting there, set in italics across the columns (not counted in their widths)."""
    header = Header.of(cols)
    lay = choose(cols, header)
    spec = [_align(c, j, lay.size) for j, c in enumerate(cols)]
    packages = {"booktabs"}
    if lay.wrap:
        spec[0] = r">{\raggedright\arraybackslash}X"
        packages.add("tabularx")
    begin, end = (rf"\begin{{tabularx}}{{\linewidth}}{{{''.join(spec)}}}", r"\end{tabularx}") if lay.wrap else \
        (rf"\begin{{tabular}}{{{''.join(spec)}}}", r"\end{tabular}")
    head = []
    if header.spans:
        top, j = [], 0
        for name, a, b in header.spans:
            top += [""] * (a - j) + [rf"\multicolumn{{{b - a + 1}}}{{c}}{{{tex_text(name)}}}"]
            j = b + 1
        top += [""] * (len(cols) - j)
        head += [" & ".join(top) + r" \\",
                 "".join(rf"\cmidrule(lr){{{a + 1}-{b + 1}}}" for _, a, b in header.spans)]
    head.append(" & ".join(map(tex_text, header.own)) + r" \\")
    body = []
    for k, row in enumerate(zip(*(c.cells for c in cols))):
        if k in (groups or {}):
            group = rf"\multicolumn{{{len(cols)}}}{{l}}{{\textit{{{tex_text(groups[k])}}}}} \\"
            body += [r"\midrule", group] if k else [group]
        body.append(" & ".join(tex_text(c) for c in row) + r" \\")
    tabular = [begin, r"\toprule", *head, r"\midrule", *body, r"\bottomrule", end]
    if lay.resize:
        tabular = [r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%", *tabular, "}"]  # only shrinks
        packages.add("graphicx")
    if lay.colsep != 6.0:
        tabular = [rf"\setlength{{\tabcolsep}}{{{lay.colsep:g}pt}}", *tabular]
    lines = [rf"\begin{{{lay.env}}}[t]", r"\centering", rf"\caption{{{tex_prose(caption)}}}",
             rf"\label{{{label}}}", r"\smallskip", lay.size, *tabular]
    if note:
        lines += [r"\par\smallskip", rf"{{{NOTE_SIZE}\raggedright", *map(tex_prose, note), r"\par}"]
    lines += [rf"\end{{{lay.env}}}", ""]
    if "\\checkmark" in "\n".join(lines):
        packages.add("amssymb")
    return lines, packages


def _protocols(cols: list[Column]) -> str:
    """'Protocol P.' or 'Protocols: <columns>: P; ...', columns that share their protocols named once
    (by the label that spans them where there is one: 'UCF101: synth-ucf-0-50')."""
    spans = {j: name for name, a, b in Header.of(cols).spans for j in range(a, b + 1)}
    by: dict[tuple, list[int]] = {}
    for j, c in enumerate(cols):
        if c.protocols:
            by.setdefault(c.protocols, []).append(j)
    if len(by) == 1:
        return f"Protocol {', '.join(next(iter(by)))}."
    names = []
    for protos, js in by.items():
        shared = {spans.get(j) for j in js}
        name = shared.pop() if len(js) > 1 and len(shared) == 1 and None not in shared else \
            ", ".join(cols[j].label for j in js)
        names.append(f"{name}: {', '.join(protos)}")
    return "Protocols: " + "; ".join(names) + "."


class TexFile:
    """tableN.tex: a header comment (source title, packages, labels), then one float per grid."""

    BENCH = {"synthetic": "ours, synthetic benchmark", "real": "ours, real datasets"}

    def __init__(self, key: str, title: str):
        self.key, self.title = key, title
        self.body: list[str] = []
        self.labels: list[str] = []
        self.packages: set[str] = set()

    def _label(self, label: str) -> str:
        n, base = 2, label
        while label in self.labels:
            label, n = f"{base}-{n}", n + 1
        self.labels.append(label)
        return label

    def _add(self, caption, label, cols, note):
        lines, packages = float_lines(caption, label, cols, note)
        self.body += lines
        self.packages |= packages

    def ours(self, grid, rows: list[list[str]], bench: str, heading: str, notes=()):
        """A grid of our results; rows: its cells' text (tables.fill)."""
        cols = columns(grid.header, rows, grid.rows)
        protocols = {p for c in cols for p in c.protocols}
        title = _strip(grid.title, protocols)
        if cols and not cols[0].results:
            cols[0].cells = [_unique_method(c) for c in cols[0].cells]
        dropped = [c for c in cols if c.na()]
        cols = [c for c in cols if not c.na()]
        where = _protocols(cols)
        if dropped:
            where += f" {', '.join(c.label for c in dropped)}: no such protocol on this benchmark (not shown)."
        caption = f"{short_title(self.title)}: {title}; {self.BENCH.get(bench, bench)}."
        part = re.match(r"\(([a-z])\)", grid.title)        # (a) ...: the part of a table with several
        label = self._label(f"tab:{self.key}-{bench}" + (f"-{part.group(1)}" if part else ""))
        self._add(caption, label, cols, [f"{heading}.", where, *notes])

    def reported(self, key: str, paper: dict):
        """A grid of the paper's own numbers (paper.toml section `key`)."""
        cols = columns(paper["columns"], paper["rows"], None)
        what = "" if "," in paper["source"] else f"{short_title(self.title)}, "   # 'Table 1': say what it is
        caption = f"{what}reported in the ResT paper, {paper['source']}; real datasets, not our runs."
        self._add(caption[0].upper() + caption[1:], self._label(f"tab:{key}-paper"), cols, paper.get("notes", []))

    def plain(self, caption: str, label: str, header: list[str], rows: list[list[str]], note: list[str],
              groups: dict | None = None):
        """A grid of text (no Cells), its rows in groups (float_lines): orderings.tex."""
        lines, packages = float_lines(caption + ".", self._label(label), columns(header, rows, None), note, groups)
        self.body += lines
        self.packages |= packages

    def comment(self, lines: list[str]):
        self.body += [f"% {line}" for line in lines] + [""]

    def text(self) -> str:
        order = ["booktabs", "amssymb", "tabularx", "graphicx"]
        packages = ",".join(p for p in order if p in self.packages | {"booktabs"})
        head = [f"% {self.title}", "% Generated by `zsarbench tables` from results/**/*.json; do not edit.",
                rf"% Needs \usepackage{{{packages}}} (all in TeX Live's latex-base and latex-recommended).",
                f"% Labels: {', '.join(self.labels)}.", ""]
        return "\n".join(head + self.body)
