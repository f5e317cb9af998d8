"""ResT ablations of paper Table 3(b, c): the ResT method itself, configured (zsarbench/methods/rest.py
options `losses` and `attention`), so they share every line of its network, training and encoding."""

from zsarbench.methods.rest import TINY, ResTMethod


def rest18_cls_only(**overrides) -> ResTMethod:
    """ResT_18 trained with L_cls only, no MLM (paper Table 3(b))."""
    return ResTMethod("rest18_cls_only", **{"backbone": "resnet18", "frames": 16, "losses": "cls", **overrides})


def rest18_mlm_only(**overrides) -> ResTMethod:
    """ResT_18 trained with L_mtl only, no CLS (paper Table 3(b))."""
    return ResTMethod("rest18_mlm_only", **{"backbone": "resnet18", "frames": 16, "losses": "mlm", **overrides})


def rest18_cross_attn(**overrides) -> ResTMethod:
    """ResT_18 with cross-modal attention for CLS and MLM: every token sees every token (Table 3(c))."""
    return ResTMethod("rest18_cross_attn", **{"backbone": "resnet18", "frames": 16, "attention": "cross",
                                              **overrides})


def _tiny(name: str, **options) -> ResTMethod:
    return ResTMethod(name, **{**TINY, **options})


def rest_tiny_cls_only(**overrides) -> ResTMethod:
    """rest_tiny trained with L_cls only (tests)."""
    return _tiny("rest_tiny_cls_only", **{"losses": "cls", **overrides})


def rest_tiny_mlm_only(**overrides) -> ResTMethod:
    """rest_tiny trained with L_mtl only (tests)."""
    return _tiny("rest_tiny_mlm_only", **{"losses": "mlm", **overrides})


def rest_tiny_cross_attn(**overrides) -> ResTMethod:
    """rest_tiny with cross-modal attention (tests)."""
    return _tiny("rest_tiny_cross_attn", **{"attention": "cross", **overrides})
