"""``manage.py startgame NAME``: a new game from ``match/game_template/``, ready to register.

It writes the rules package (``match/games/NAME/``), its tests (``tests/match/test_NAME.py``),
their golden file (by running the golden test once with ``REGENERATE_GOLDEN=1``) and the
browser renderer (``web/static/web/games/NAME.js``), then prints the settings lines that
register the game. As written, the game runs and its tests pass (tests/match/test_startgame.py
proves it on a copy of the tree); docs/new-game.md walks through making it yours.
"""

from __future__ import annotations

import keyword
import os
import re
import subprocess
import sys
from collections.abc import Container
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from match.games import UnknownGame, get_game
from match.models import Match

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "game_template"
SUFFIX = "-tpl"
"""Template files end in it, so that ruff, mypy and pytest never take them for code."""

PACKAGE_TEMPLATES = "game"
"""The template directory whose files become ``match/games/NAME/``."""
SINGLE_TEMPLATES = {
    "tests/test_game.py": "tests/match/test_{game}.py",
    "web/game.js": "web/static/web/games/{game}.js",
}
GOLDEN = "tests/match/golden/{game}_seed42_3p.txt"
"""Where the generated golden test keeps its hashes (it names the file after ``RULES.name``)."""
GOLDEN_TEST = "test_hashes_match_the_golden_file_every_tick"
GOLDEN_TIMEOUT = 600.0  # a pytest start plus a 400-tick match, on a busy machine

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
MODE_NAME_MAX = 16  # Rating.mode's length; lobby.modes checks GAME_MODES names
RESERVED_MODES = frozenset({"room", "custom"})  # Match.mode of room and practice matches


def check_name(name: str) -> str:
    """A game name is a lowercase Python identifier that fits ``Match.game``; else CommandError."""
    max_len = Match._meta.get_field("game").max_length or 0
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise CommandError(
            f"{name!r} is not a valid game name: use a lowercase Python identifier "
            "(a letter, then letters, digits or _), e.g. 'tag' or 'light_cycles'"
        )
    if len(name) > max_len:
        raise CommandError(f"{name!r} is too long for a game name: at most {max_len} characters")
    return name


def title_of(name: str) -> str:
    """What players see: ``light_cycles`` -> ``Light Cycles``."""
    return " ".join(part.capitalize() for part in name.split("_") if part)


def mode_name(game: str, taken: Container[str]) -> str:
    """A name for the game's first queue mode that ``GAME_MODES`` accepts and does not use yet."""
    stem = game[: MODE_NAME_MAX - 5]
    candidates = [game, f"{stem}_duel", *(f"{stem}_{n}" for n in range(2, 1000))]
    return next(
        name
        for name in candidates
        if len(name) <= MODE_NAME_MAX and name not in RESERVED_MODES and name not in taken
    )


def planned_files(game: str) -> dict[Path, str]:
    """Destination (relative to the root) -> template file, for every file the game gets."""
    plan: dict[Path, str] = {}
    package = TEMPLATE_DIR / PACKAGE_TEMPLATES
    for source in sorted(package.rglob(f"*{SUFFIX}")):
        relative = source.relative_to(package).as_posix().removesuffix(SUFFIX)
        plan[Path("match", "games", game, relative)] = str(source)
    for template, destination in SINGLE_TEMPLATES.items():
        plan[Path(destination.format(game=game))] = str(TEMPLATE_DIR / (template + SUFFIX))
    return plan


def render(text: str, *, game: str, title: str) -> str:
    """Fill in the two placeholders; plain replacement, so the templates need no escaping."""
    return text.replace("{{ game }}", game).replace("{{ title }}", title)


class Command(BaseCommand):
    help = (
        "Write a new game: its rules package, tests (with their golden file) and browser renderer, "
        "from match/game_template/; then print the settings that register it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the game's name: a lowercase Python identifier, e.g. tag")
        parser.add_argument(
            "--root",
            type=Path,
            default=Path(settings.BASE_DIR),
            help="the project tree to write into (default: this project's root)",
        )
        parser.add_argument(
            "--no-golden",
            action="store_true",
            help="do not run the golden test to write its file (the output says how to, later)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        game = check_name(options["name"])
        root: Path = options["root"].resolve()
        if not (root / "match" / "games").is_dir():
            raise CommandError(f"{root} is not a project tree: it has no match/games/")
        try:
            get_game(game)
        except UnknownGame:
            pass
        else:
            raise CommandError(f"a game named {game!r} is registered already")
        plan = planned_files(game)
        taken = [p.as_posix() for p in [*plan, Path(GOLDEN.format(game=game))] if (root / p).exists()]
        if (root / "match" / "games" / game).exists():
            taken.insert(0, f"match/games/{game}/")
        if taken:
            raise CommandError(f"game {game!r} exists already: {', '.join(sorted(set(taken)))}")

        title = title_of(game)
        for path, template in plan.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            text = Path(template).read_text(encoding="utf-8")
            target.write_text(render(text, game=game, title=title), encoding="utf-8")
        written = [path.as_posix() for path in plan]
        golden = GOLDEN.format(game=game)
        regenerate = f"REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/match/test_{game}.py -k golden"
        if options["no_golden"]:
            golden_note = f"The golden file is not written yet: {regenerate}"
        else:
            self.write_golden(root, game, regenerate)
            written.append(golden)
            golden_note = f"{golden} pins the scripted match; after a deliberate change: {regenerate}"

        out = self.stdout
        out.write(f"Wrote the game {game!r} ({title}) under {root}:")
        for name in written:
            out.write(f"  {name}")
        out.write(golden_note)
        out.write("Register it: add to the GAMES and GAME_MODES defaults in gameserver/settings.py")
        out.write("(or to the environment variables of the same names; docs/new-game.md, 'Registering'):")
        out.write(f'  GAMES = [..., "match.games.{game}"]')
        mode = mode_name(game, settings.GAME_MODES)
        out.write(f'  GAME_MODES = {{..., "{mode}": {{"game": "{game}", "players": 2}}}}')
        out.write(f"Then run its tests: .venv/bin/python -m pytest tests/match/test_{game}.py")

    def write_golden(self, root: Path, game: str, regenerate: str) -> None:
        """Run the generated golden test once in ``root`` with REGENERATE_GOLDEN=1."""
        env = {**os.environ, "REGENERATE_GOLDEN": "1"}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"tests/match/test_{game}.py::{GOLDEN_TEST}",
        ]
        try:
            done = subprocess.run(
                command, cwd=root, env=env, capture_output=True, text=True, timeout=GOLDEN_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CommandError(
                f"the files are written but not the golden file ({exc}); run: {regenerate}"
            ) from None
        if done.returncode != 0 or not (root / GOLDEN.format(game=game)).exists():
            raise CommandError(
                f"the files are written but not the golden file: pytest exit {done.returncode}\n"
                f"{done.stdout[-3000:]}{done.stderr[-2000:]}\nfix it, then run: {regenerate}"
            )
