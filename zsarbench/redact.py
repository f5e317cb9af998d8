"""Secrets are never written: the password of a URL (`postgresql://user:***@host/db`) and secret query
parameters (`?password=***`, token, secret, api_key ...) become *** in every command line, log line,
error, results record, tuning record and overlay zsarbench writes (context.command_line, tune.py,
cli/app.py). The study storage itself is opened with the URL as given; only what is written or
printed is redacted."""

from __future__ import annotations

import re

# scheme://user:password@host: the password runs to the last '@' before the host (an '@' may be in it)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<secret>\S*)@(?=[^@\s/?#]*(?:[/?#\s]|$))")
_QUERY = re.compile(r"(?i)(?P<head>[?&;](?:password|passwd|pwd|pass|sslpassword|token|access_token|auth_token|"
                    r"secret|client_secret|api_key|apikey|key)=)(?P<secret>[^&\s#]*)")
MASK = "***"


def redact(text: str) -> str:
    """`text` with every URL password and secret query value replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@" if m["secret"] else m[0], str(text))
    return _QUERY.sub(lambda m: m["head"] + (MASK if m["secret"] else ""), text)


def redact_all(obj):
    """A JSON-like value with redact() applied to every string in it (keys too)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_all(k): redact_all(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_all(v) for v in obj)
    return obj
