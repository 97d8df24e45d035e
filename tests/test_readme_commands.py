"""Every `qwen3-rag ...` the README and docs/ name exists: the sub-command and each option."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from qwen3_rag.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
#: The README and the documentation site's pages (the guides and the benchmark reports).
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _sub_commands() -> dict[str, set[str]]:
    parser = build_parser()
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {option for action in sub._actions for option in action.option_strings}
            for name, sub in choices.choices.items()}


def _mentions() -> list[tuple[str, list[str]]]:
    """``("page:line", words)`` of each command line the pages show, continuations joined."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8").replace("\\\n", " ")
        name = page.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), start=1):
            for match in re.finditer(r"qwen3-rag ((?:[a-z]|--)[^`|#]*)", line):
                words = shlex.split(match.group(1).replace("...", " "), comments=False)
                if words:
                    found.append((f"{name}:{number}", words))
    return found


MENTIONS = _mentions()


def test_the_pages_name_commands():
    assert len(MENTIONS) > 30
    assert any(line.startswith("README.md:") for line, _ in MENTIONS)


@pytest.mark.parametrize(("line", "words"), MENTIONS, ids=[n for n, _ in MENTIONS])
def test_each_command_and_option_the_readme_names_exists(line, words):
    commands = _sub_commands()
    if words[0].startswith("-"):
        assert words[0] in {"--version", "--help", "-h", "-v", "--verbose"}, line
        return
    assert words[0] in commands, f"{line}: no sub-command {words[0]!r}"
    options = commands[words[0]]
    rest = words[1:]
    if "--" in rest:  # what follows goes to vLLM
        rest = rest[:rest.index("--")]
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in options, (
                f"{line}: `qwen3-rag {words[0]}` has no option {word}")
