"""The `zsarbench` command group: every subcommand attached here, and the console-script entry, where
bad input becomes one line on stderr and exit code 2."""

from __future__ import annotations

import sys

import click

from ..errors import UserError
from .common import console
from .datasets import data, labels, overlap
from .evidence import bundle, compare, confusion, verify
from .experiments import ablate, run
from .reports import figures, ls, show, tables, validate
from .tuning import tune


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zsarbench")
def main():
    """Zero-shot action recognition benchmark: ResT and baselines under leak-free protocols."""


for _command in (run, ablate, tune, tables, figures, ls, show, validate, data, labels, overlap, compare, bundle, verify,
                 confusion):
    main.add_command(_command)


def error_line(message: str) -> None:
    """'error: <message>' on stderr as one line, the message as it is (never read as markup: a value
    like '[a,b]' stays whole) with any secret in it redacted."""
    from rich.text import Text

    from ..redact import redact

    console.print(Text.assemble(("error:", "red"), " ", redact(message)), soft_wrap=True)


def entry():
    """Console-script entry: every UserError or usage error is one line and exit code 2."""
    try:
        rv = main.main(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except UserError as e:
        error_line(str(e))
        sys.exit(2)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as e:
        error_line(f"{e.format_message()} (see `zsarbench --help`)")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except OSError as e:   # a full disk no writer named (artefacts.write_atomic names its own file)
        from ..artefacts import disk_full, is_disk_full

        if not is_disk_full(e):
            raise
        error_line(str(disk_full(e.filename or "?", "file")))
        sys.exit(2)
