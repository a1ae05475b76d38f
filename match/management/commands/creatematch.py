"""``manage.py creatematch``: create a match from the shell and print a join link per seat."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from match import services


class Command(BaseCommand):
    help = "Create a match and print its id and one signed ticket (with a join URL) per seat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--players", type=int, default=2)
        parser.add_argument("--names", default="", help="comma-separated names, seat 0 first")
        parser.add_argument("--score-limit", type=int, default=None)
        parser.add_argument("--time-limit", type=int, default=None, help="seconds")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--no-start", action="store_true", help="do not notify a tick worker (none is running)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = [n for n in options["names"].split(",") if n.strip()] if options["names"] else None
        try:
            match = services.match_create(
                players=options["players"],
                names=list(names) if names else None,
                score_limit=options["score_limit"],
                time_limit=options["time_limit"],
            )
        except services.InvalidMatchRequest as exc:
            raise CommandError(str(exc)) from None
        if not options["no_start"]:
            services.match_request_start(match_id=str(match.id))
        self.stdout.write(f"match {match.id}")
        base = options["base_url"].rstrip("/")
        for ticket in services.match_tickets(match=match):
            self.stdout.write(f"seat {ticket['seat']} ({ticket['name']}): {base}{ticket['url']}")
