from django.apps import AppConfig


class LobbyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lobby"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from lobby import receivers
        from lobby.modes import check_settings
        from match.signals import match_finished

        # GAMES and GAME_MODES: a mistake stops every process here, naming the bad entry.
        check_settings()
        match_finished.connect(receivers.rate_finished_match, dispatch_uid="lobby.rate_finished_match")
        user_logged_out.connect(receivers.close_session_sockets, dispatch_uid="lobby.close_session_sockets")
