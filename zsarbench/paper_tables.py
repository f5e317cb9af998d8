"""The paper's tables, declared once: what each table and each of its parts is, which command fills
it, on which protocols (its columns), with which rows (method + options + variant + embedding),
the sections of report/paper.toml holding the paper's own numbers, and the orderings the paper
claims. `zsarbench ablate`, the CLI's help, `zsarbench ls tables`, `zsarbench tables` and
`make reference` all read it.

A new table: add a `Part` (and its rows function, for an ablation) to a `PaperTable` below; the
report's layout of its grid goes in report/tables.py (LAYOUTS).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from .errors import UserError, did_you_mean

YES = "✓"
UCF = ("synth-ucf-0-50", "synth-ucf-0-100")           # the paper's columns 0/50 and 0/100 on UCF101
ZERO_50 = ("synth-ucf-0-50", "synth-hmdb-0-50")       # 0/50 on UCF101 and HMDB51


@dataclass
class Row:
    """One row of an ablation: trained (or reused) through prepare.prepare, scored on each protocol."""
    id: str                       # short name, stable across runs: what orderings refer to
    cells: dict                   # the paper's columns of this row
    method: str
    variant: str = "all"          # inference variant (transfer/variants.py)
    options: dict = field(default_factory=dict)   # method options
    recipe: dict = field(default_factory=dict)    # recipe fields of this row (frames, test_clips)
    embedding: str = ""           # label embedding for inference ("": the protocol's)
    pretrained_from: str = ""     # a method trained (or reused) first on the same protocol; F starts from its F


@dataclass(frozen=True)
class Ordering:
    """A claim of the paper: each row beats the next one (row ids, best first), on every protocol
    of the part."""
    rows: tuple
    claim: str


@dataclass(frozen=True)
class Part:
    """One grid of a paper table. With `rows` it is an ablation, filled by `zsarbench ablate NAME`;
    without, by plain `zsarbench run`s of the methods named in `methods`."""
    name: str                     # the ablate command, or the table's key for run-filled parts
    label: str                    # "3(a)"
    title: str                    # what it shows
    heading: str                  # the grid's heading in the report
    protocols: tuple = ()         # its columns on the synthetic benchmark (ablate's default -p)
    rows: Callable | None = None  # (protocol, embeddings, method) -> list[Row]
    methods: tuple = ()           # run-filled parts: the methods always shown
    orderings: tuple = ()
    cheap: bool = True            # `--profile auto` trains the CPU-sized profile on synthetic protocols
                                  # (False: the protocols' own recipe, reusing the models of `run`)

    @property
    def ablation(self) -> bool:
        return self.rows is not None

    def help(self) -> str:
        return f"Paper Table {self.label}: {self.title}."


@dataclass(frozen=True)
class PaperTable:
    key: str                      # file stem of the report: table1 ...
    title: str
    parts: tuple
    paper: tuple = ()             # report/paper.toml sections
    notes: tuple = ()


# ----------------------------------------------------------------------------- ablation rows

def _architecture(P, emb, method):
    return [Row("rnn", {"SE": "RNN", "ResT": "", "Transfer": YES}, "twostream_rnn18"),
            Row("lstm", {"SE": "LSTM", "ResT": "", "Transfer": YES}, "twostream_lstm18"),
            Row("transformer", {"SE": "Transformer", "ResT": YES, "Transfer": YES}, "rest18")]


def _components(P, emb, method):
    return [Row("cls", {"CLS": YES, "MLM": "", "Transfer": ""}, "rest18_cls_only", "s-space-nn"),
            Row("mlm", {"CLS": "", "MLM": YES, "Transfer": ""}, "rest18_mlm_only", "s-space-nn"),
            Row("cls+mlm", {"CLS": YES, "MLM": YES, "Transfer": ""}, "rest18", "s-space-nn"),
            Row("cls+mlm+transfer", {"CLS": YES, "MLM": YES, "Transfer": YES}, "rest18")]


def _attention(P, emb, method):
    return [Row("cross", {"Attention": "A", "CLS": "Cross", "MLM": "Cross"}, "rest18_cross_attn"),
            Row("rest", {"Attention": "B (ResT)", "CLS": "Single", "MLM": "Cross"}, "rest18")]


BACKBONES = (("VGG16", "vgg16"), ("MobileNetV2", "mobilenet_v2"), ("GoogLeNet", "googlenet"),
             ("R(2+1)D", "r2plus1d_18"), ("ResNet-18 (ResT_18)", "resnet18"))


def _backbones(P, emb, method):
    from .experiment import resolve

    f = resolve("rest18", P).recipe.frames   # the rows are ResT_18's with other backbones
    return [Row(name, {"Network": label, "Frames": f}, "rest18", options={"backbone": name})
            for label, name in BACKBONES]


def _clips(P, emb, method):
    """Frames: the methods' own (16, 8, 4 as the paper) unless the protocol fixes them (the synthetic
    recipe: 6), then ResT_34 and ResT_101 get 1/2 and 1/4 of them, as the paper's 16 : 8 : 4."""
    f = P.recipe.frames

    def row(label, method, n, clips, variant="all"):
        return Row(f"{method}-{clips}clips", {"Network": label, "Frames": round(f * n / 16) if f else n}, method,
                   variant, recipe={"test_clips": clips, **({"frames": round(f * n / 16)} if f else {})})
    return [row("E2E_R(2+1)D", "e2e_r2plus1d", 16, 25, "label-nn"), row("E2E_R(2+1)D", "e2e_r2plus1d", 16, 1, "label-nn"),
            row("ResT_18", "rest18", 16, 25), row("ResT_18", "rest18", 16, 1),
            row("ResT_34", "rest34", 8, 1), row("ResT_101", "rest101", 4, 1)]


def _pretrained(P, emb, method):
    """The paper's C3D was pretrained on Sports-1M, which shares classes with UCF101. The leak-free
    analogue: R(2+1)D-18 pretrained by the E2E baseline on the same seen source classes, then taken
    as fixed features (frozen) or trained end-to-end with ResT; beside it the same network from random
    init (the backbones table's row) and ResT_18."""
    r21d = {"backbone": "r2plus1d_18"}
    pre = "R(2+1)D-18, E2E on the seen source classes"
    return [Row("frozen", {"VE": pre, "pre-trained": YES, "e2e": ""}, "rest18", options={**r21d, "freeze": True},
                pretrained_from="e2e_r2plus1d"),
            Row("end-to-end", {"VE": pre, "pre-trained": YES, "e2e": YES}, "rest18", options=r21d,
                pretrained_from="e2e_r2plus1d"),
            Row("r2plus1d_18", {"VE": "R(2+1)D-18", "pre-trained": "", "e2e": YES}, "rest18", options=r21d),
            Row("resnet18", {"VE": "ResNet-18 (ResT_18)", "pre-trained": "", "e2e": YES}, "rest18")]


def embedding_label(e: str) -> str:
    return {"glove-6b-50d": "GloVe", "minilm-l6-v2": "S2V (MiniLM)"}.get(e, "W2V" if e.startswith("word2vec:") else e)


def _embeddings(P, emb, method):
    return ([Row(f"S:{e}", {"SE": embedding_label(e), "ResT": YES, "Transfer": "", "Space": "S"}, "rest18",
                 "s-space-nn", embedding=e) for e in emb]
            + [Row(f"V:{e}", {"SE": embedding_label(e), "ResT": YES, "Transfer": YES, "Space": "V"}, "rest18",
                   embedding=e) for e in emb])


# Table 8's rows: the transfer's constraint variants, then Table 3(b)'s S-space nearest neighbour
CONSTRAINT_ROWS = ("reverse", "none", "knn", "relative+budget", "all", "s-space-nn")
NOT_TABLE8 = {"s-space-nn": " (Table 3(b), no transfer)"}   # shown beside Table 8's rows, marked


def _constraints(P, emb, method):
    """Every row scores one model (`-m`, rest18 by default) with one inference variant."""
    from .transfer.variants import get_variant

    return [Row(v, {"variant": get_variant(v).label, "space": get_variant(v).space}, method, v)
            for v in CONSTRAINT_ROWS]


EMBEDDINGS = ("glove-6b-50d", "minilm-l6-v2")   # + word2vec:PATH when given (ablate embeddings --word2vec)

# ----------------------------------------------------------------------------- the tables

TABLES = (
    PaperTable("table1", "Table 1. Comparison on the 50% classes of UCF101 and HMDB51 (0/50)", (
        Part("table1", "1", "ResT_18/34/101 and other methods, 0/50", "0/50, top-1 (%)", ZERO_50,
             methods=("rest18", "rest34", "rest101"),
             orderings=(Ordering(("rest101", "rest34", "rest18", "e2e_r2plus1d"), "deeper ResT is better; ResT beats E2E"),)),
    ), ("table1",)),
    PaperTable("table2", "Table 2. 0/50 and 0/100 on three targets", (
        Part("table2", "2", "E2E, ResT_18 and ResT_101 on three targets, 0/50 and 0/100", "top-1 (%)",
             ("synth-ucf-0-50", "synth-ucf-0-100", "synth-hmdb-0-50", "synth-hmdb-0-100"),
             methods=("e2e_r2plus1d", "rest18", "rest101"),
             orderings=(Ordering(("rest101", "rest18", "e2e_r2plus1d"), "ResT_101 > ResT_18 > E2E"),)),
    ), ("table2",), ("Synthetic: the source removes overlap with synth-ucf and synth-hmdb (there is no synthetic "
                     "ActivityNet); real: the K605 protocols.",)),
    PaperTable("table3", "Table 3. Transformer model (UCF101)", (
        Part("architecture", "3(a)", "RNN and LSTM two-stream models vs the Transformer",
             "(a) architecture, top-1 (%)", UCF, _architecture,
             orderings=(Ordering(("transformer", "lstm", "rnn"), "Transformer > LSTM > RNN"),)),
        Part("components", "3(b)", "CLS only, MLM only, both, both with transfer",
             "(b) CLS and MLM components, top-1 (%)", UCF, _components,
             orderings=(Ordering(("cls+mlm+transfer", "cls", "mlm"), "CLS+MLM with transfer > CLS > MLM"),
                        Ordering(("cls+mlm+transfer", "cls+mlm"), "the transfer beats the S-space nearest neighbour"))),
        Part("attention", "3(c)", "cross-modal attention for CLS and MLM vs ResT's", "(c) attention scheme, top-1 (%)",
             UCF, _attention, orderings=(Ordering(("rest", "cross"), "ResT's attention > cross attention"),)),
    ), ("table3a", "table3b", "table3c"), ("Rows come from `zsarbench ablate architecture|components|attention`.",)),
    PaperTable("table4", "Table 4. Feature extractor backbone (UCF101)", (
        Part("backbones", "4(a)", "VGG16, MobileNetV2, GoogLeNet, R(2+1)D, ResNet-18 with GMAC x clips",
             "(a) feature encoder backbones, top-1 (%)", UCF, _backbones,
             orderings=(Ordering(("r2plus1d_18", "resnet18", "vgg16", "googlenet", "mobilenet_v2"),
                                 "R(2+1)D > ResNet-18 > VGG16 > GoogLeNet > MobileNetV2"),)),
        Part("clips", "4(b)", "E2E and ResT_18/34/101 with 25 and 1 test clips, GMAC x clips",
             "(b) accuracy-complexity trade-off, top-1 (%)", UCF, _clips,
             orderings=(Ordering(("rest18-25clips", "rest18-1clips"), "25 test clips > 1 (ResT_18)"),
                        Ordering(("e2e_r2plus1d-25clips", "e2e_r2plus1d-1clips"), "25 test clips > 1 (E2E)"))),
    ), ("table4a", "table4b"), ("Rows come from `zsarbench ablate backbones|clips`. Cost: forward GMAC "
                                "(multiply-accumulates, what the paper calls GFLOPs) per test clip x test clips, as "
                                "each row's `cost` records it.",)),
    PaperTable("table5", "Table 5. ZSAR in semantic or visual space (UCF101)", (
        Part("embeddings", "5", "word2vec, GloVe, sentence embedding in S and V space",
             "ZSAR in the semantic (S) or visual (V) space, top-1 (%)", UCF, _embeddings,
             orderings=tuple(Ordering((f"V:{e}", f"S:{e}"), f"V space > S space ({embedding_label(e)})")
                             for e in EMBEDDINGS)),
    ), ("table5",), ("Rows come from `zsarbench ablate embeddings`.",)),
    PaperTable("table6", "Table 6. With and without pretrained features and end-to-end training", (
        Part("pretrained", "6", "R(2+1)D pretrained on the seen classes, frozen or end-to-end", "0/50, top-1 (%)",
             ZERO_50, _pretrained, orderings=(Ordering(("end-to-end", "frozen"), "end-to-end > frozen"),)),
    ), ("table6",), ("Rows come from `zsarbench ablate pretrained`. The paper's C3D was pretrained on Sports-1M, which "
                     "shares classes with UCF101; here the pretrained encoder is the E2E baseline's R(2+1)D-18, trained "
                     "on the same seen source classes (no other data). Frozen: fixed features, as the paper's "
                     "pre-trained row; precomputed features on disk (docs/features.md) are the same input for real "
                     "datasets.",)),
    PaperTable("table7", "Table 7. Training with and without overlap removal", (
        Part("table7", "7", "ResT trained with and without the overlap removal", "ResT_18, 0/50 (%)", ZERO_50,
             methods=("rest18",),
             orderings=(Ordering(("all-classes", "overlap-removed"), "training on overlapping classes inflates "
                                                                     "accuracy (removal costs accuracy)"),)),
    ), ("table7",)),
    PaperTable("table8", "Table 8. Effect of the constraints in the semantic relatedness transfer", (
        Part("constraints", "8", "effect of the transfer constraints and of the space",
             "{title} 0/50 ({protocol})", ZERO_50, _constraints, cheap=False,
             orderings=(Ordering(("all", "knn", "none"), "all constraints > constraint I > none"),
                        Ordering(("all", "relative+budget", "none"), "all constraints > II + III > none"),
                        Ordering(("all", "reverse"), "V-space transfer > reverse (S-space) transfer"))),
    ), ("table8a", "table8b", "table8c"),
        ("Skewness of the k-occurrence distribution psi_1, mean over the splits where it is defined: Eq. 10 "
         "as printed (gamma x the sample skewness) and the usual sample skewness (docs/transfer.md).",)),
    PaperTable("table9", "Table 9. ResNet and object-region features (0/50)", (
        Part("table9", "9", "ResNet and object-region features", "0/50, top-1 (%)", ZERO_50,
             methods=("rest18", "rest101")),
    ), ("table9",), ("Object-region features: no `zsarbench` command produces them yet (n/a).",)),
)

PARTS = {part.name: part for t in TABLES for part in t.parts}
ABLATIONS = {name: part for name, part in PARTS.items() if part.ablation}


def get_ablation(name: str) -> Part:
    if name not in ABLATIONS:
        raise UserError(f"unknown ablation '{name}'{did_you_mean(name, ABLATIONS)}; "
                        "`zsarbench ls tables` lists them")
    return ABLATIONS[name]


def list_tables(pattern: str = "*") -> list[tuple[PaperTable, Part]]:
    """(table, part) pairs whose part name, label or table key matches the glob."""
    return [(t, p) for t in TABLES for p in t.parts
            if any(fnmatch.fnmatch(s, pattern) for s in (p.name, p.label, t.key))]
