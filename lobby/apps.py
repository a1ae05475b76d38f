from django.apps import AppConfig


class LobbyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lobby"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from lobby import receivers
        from match.signals import match_finished

        match_finished.connect(receivers.rate_finished_match, dispatch_uid="lobby.rate_finished_match")
        user_logged_out.connect(receivers.close_session_sockets, dispatch_uid="lobby.close_session_sockets")
