"""The documentation holds together (unit tier: nothing trained, nothing run but `--help`):

- every relative link of README.md, docs/*.md and results/README.md (Markdown links, images,
  reference definitions, HTML href/src) names an existing file, and its `#anchor` a heading there;
- every `docs/NAME.md` those pages name, linked or not, exists;
- every `zsarbench ...` command in the code blocks of those pages (the README's above all) names
  real subcommands (`--help` of each exits 0) and only options that command declares;
- the README's main job is the Makefile's `make run`, and its seeds' headline is Table 1's cell."""

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import ROOT

from zsarbench.cli import main

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "results" / "README.md"]
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)   # http:, https:, mailto:, ...


def _split_fences(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(the lines outside fenced code blocks, [(info string, lines) of each block])."""
    prose, blocks, block = [], [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if m and block is None:
            block = (line.strip()[3:].strip(), [])
        elif m and line.strip().startswith(m.group(1)) and line.strip() == m.group(1):
            blocks.append(block)
            block = None
        elif block is not None:
            block[1].append(line)
        else:
            prose.append(line)
    assert block is None, f"an unclosed code fence ({block[0] or 'no language'})"
    return prose, blocks


def _without_code_spans(line: str) -> str:
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", line)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text (code, emphasis and link syntax dropped), lower case,
    punctuation but '-' and '_' removed, spaces as '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    prose, _ = _split_fences(page.read_text(encoding="utf-8"))
    found, seen = set(), {}
    for line in prose:
        m = HEADING.match(line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
        found.update(re.findall(r"""<a\s+(?:name|id)\s*=\s*["']([^"']+)["']""", line))
    return found


def _links(page: Path) -> list[str]:
    prose, _ = _split_fences(page.read_text(encoding="utf-8"))
    text = "\n".join(_without_code_spans(line) for line in prose)
    return LINK.findall(text) + REFERENCE.findall(text) + HTML.findall(text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_its_anchor(page):
    assert page.is_file(), f"{page.relative_to(ROOT)} is gone"
    broken = []
    for target in _links(page):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading '#{anchor}' in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_every_guide_a_page_names_exists():
    """A guide named in passing (`docs/x.md` in prose or in a code block; not `shared/docs/...`) is a
    link too."""
    missing = {f"{page.relative_to(ROOT)}: {name}"
               for page in PAGES for name in re.findall(r"(?<![\w/.-])docs/[\w.-]+\.md\b", page.read_text(encoding="utf-8"))
               if not (ROOT / name).is_file()}
    assert not missing, "\n".join(sorted(missing))


def _words(line: str) -> list[str]:
    line = re.sub(r"\$\(([^()]*)\)", r"; \1 ;", line)   # a command substitution: a command of its own
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split, lexer.commenters = True, "#"
    return list(lexer)


def _shell_commands(lines: list[str]) -> list[list[str]]:
    """The simple commands of a shell code block, as words (continuations and quotes over several
    lines joined, comments dropped, split at &&, ||, ; and |)."""
    commands, pending = [], ""
    for line in "\n".join(lines).replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            words = _words(pending)
        except ValueError:   # a quote that closes on a later line
            continue
        pending, command = "", []
        for word in words:
            if set(word) <= set(";&|"):
                commands.append(command)
                command = []
            else:
                command.append(word)
        commands.append(command)
    assert not pending, f"an unclosed quote in a code block: {pending[:80]}"
    return [c for c in commands if c]


def _zsarbench_args(words: list[str]) -> list[str] | None:
    """The arguments after `zsarbench` (or `python -m zsarbench.cli`), None for another program."""
    for i, word in enumerate(words):
        if word == "zsarbench" or word.endswith("/zsarbench"):
            return words[i + 1:]
        if word == "zsarbench.cli" and i and words[i - 1] == "-m":
            return words[i + 1:]
    return None


def _shell_lines(info: str, lines: list[str]) -> list[str]:
    """A shell block's lines; of a transcript (no language, or console), the `$ `-prompted commands
    with their continuation lines."""
    if info in ("bash", "sh", "shell"):
        return lines
    if info not in ("", "console"):
        return []
    kept, going_on = [], False
    for line in lines:
        if line.startswith("$ ") or going_on:
            kept.append(line[2:] if line.startswith("$ ") and not going_on else line)
            going_on = line.rstrip().endswith("\\")
    return kept


def _commands(page: Path) -> list[list[str]]:
    """The arguments of every `zsarbench` command in a page's code blocks."""
    _, blocks = _split_fences(page.read_text(encoding="utf-8"))
    return [args for info, lines in blocks for words in _shell_commands(_shell_lines(info, lines))
            if (args := _zsarbench_args(words)) is not None]


def _resolve(args: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """(the subcommand path, its command, the words after it), walking the CLI's groups."""
    path, command, rest = [], main, list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command, info_name="zsarbench"), rest[0])
        assert sub is not None, f"`zsarbench {' '.join(path + rest[:1])}`: no such subcommand"
        path.append(rest.pop(0))
        command = sub
    return path, command, rest


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_commands_of_the_code_blocks_parse(page):
    """Each `zsarbench` command of a page's code blocks (the README's above all): its subcommands
    exist, `--help` of the command exits 0, and every option it passes is one that command declares."""
    commands = _commands(page)
    if page.name == "README.md" and page.parent == ROOT:
        assert len(commands) >= 5, f"the README's code blocks hold {len(commands)} zsarbench commands"
    helped, problems = set(), []
    for args in commands:
        path, command, rest = _resolve(args)
        if tuple(path) not in helped:
            r = CliRunner().invoke(main, [*path, "--help"])
            if r.exit_code != 0:
                problems.append(f"zsarbench {' '.join(path)} --help: exit {r.exit_code}: {r.output[-500:]}")
            helped.add(tuple(path))
        declared = {"-h", "--help"} | {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for word in rest:
            option = word.split("=", 1)[0]
            if option.startswith("-") and len(option) > 1 and not re.fullmatch(r"-\d[\d.]*", option) \
                    and option not in declared:
                problems.append(f"zsarbench {' '.join(args)}: `{option}` is not an option of `zsarbench {' '.join(path)}`")
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_a_misspelt_command_or_option_is_caught():
    """The check above can fail: an unknown subcommand and an undeclared option are found."""
    with pytest.raises(AssertionError, match="no such subcommand"):
        _resolve(["data", "sinth"])
    path, command, rest = _resolve(shlex.split("run rest18 -p synth-ucf-0-50 --seedz 0-2"))
    assert path == ["run"] and rest[-2] == "--seedz"
    assert "--seedz" not in {opt for p in command.params for opt in p.opts}
    assert _shell_commands(["zsarbench ls methods && zsarbench tables  # a comment",
                            "torchrun -m zsarbench.cli run rest18 \\", "  -p x"]) == [
        ["zsarbench", "ls", "methods"], ["zsarbench", "tables"], ["torchrun", "-m", "zsarbench.cli", "run", "rest18", "-p", "x"]]
    assert _slug("2. Before a long run: `--smoke`") == "2-before-a-long-run---smoke"


def test_the_readme_main_job_is_make_run_and_its_headline_is_table_1s():
    """The README names the Makefile's main job, and its top-1 over seeds is the ResT cell of the
    generated Table 1 (make tables): the front door cannot drift from the results."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    method, protocol = re.search(r"`make run` is `zsarbench run (\S+) --protocol (\S+)`", readme).groups()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^METHOD\s*\?=\s*{re.escape(method)}\s*$", makefile, re.M)
    assert re.search(rf"^PROTOCOL\s*\?=\s*{re.escape(protocol)}\s*$", makefile, re.M)

    table1 = (ROOT / "results" / "tables" / "table1.md").read_text(encoding="utf-8")
    rows = [line for line in table1.split("## Ours: synthetic benchmark", 1)[1].splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    column = next(i for i, c in enumerate(header) if c.endswith(f"({protocol})"))
    cells = next(cells for line in rows if (cells := [c.strip() for c in line.strip().strip("|").split("|")])[0]
                 .endswith(f"({method})"))
    cell = cells[column]
    mean, std, n = re.match(r"(\d+\.\d) ± (\d+\.\d) \(n=(\d+)", cell).groups()
    headline = next(line for line in readme.splitlines() if line.startswith("| top-1, seeds"))
    assert f"{mean} ± {std}" in headline and f"n = {n} " in headline, (cell, headline)
