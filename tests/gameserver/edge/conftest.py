"""The match fixtures (a tick worker hosted in the test's loop, a fresh in-memory layer)."""

from tests.lobby.conftest import no_lobby_grace, workers  # noqa: F401
from tests.match.conftest import tick_worker  # noqa: F401
