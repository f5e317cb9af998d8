"""User-facing errors: raised anywhere, printed by the CLI as one line, exit code 2."""


class UserError(Exception):
    """Bad input the user can fix. The message says what is wrong and how to fix it."""


def did_you_mean(name: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
