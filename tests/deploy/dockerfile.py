"""Just enough Dockerfile parsing for the image checks: stages and their instructions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def logical_lines(text: str) -> list[str]:
    """Instructions with backslash continuations joined and comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def global_args(path: Path) -> dict[str, str]:
    """ARG defaults declared before the first FROM (what FROM lines may use)."""
    found: dict[str, str] = {}
    for line in logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            break
        if keyword.upper() == "ARG":
            name, _, default = rest.strip().partition("=")
            found[name] = default
    return found


def stages(path: Path) -> list[Stage]:
    """The stages, FROM resolved with the global ARG defaults."""
    result: list[Stage] = []
    args = global_args(path)
    for line in logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if not result and keyword == "ARG":
            continue
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert m, f"unparsed FROM in {path}: {line}"
            base = re.sub(r"\$\{?(\w+)\}?", lambda v: args[v.group(1)], m.group(1))
            result.append(Stage(base=base, name=m.group(2)))
        else:
            assert result, f"{path}: {keyword} before the first FROM"
            result[-1].instructions.append((keyword, rest))
    return result


def pip_install_specs(stage: Stage) -> list[str]:
    """The requirement arguments of every `pip install` in the stage's RUN lines."""
    specs: list[str] = []
    for run in stage.args("RUN"):
        for command in re.split(r"&&|;", run):
            words = command.split()
            for i, word in enumerate(words[:-1]):
                if word.endswith("pip") and words[i + 1] == "install":
                    specs += [w.strip("'\"") for w in words[i + 2 :] if not w.startswith("-")]
    return specs
