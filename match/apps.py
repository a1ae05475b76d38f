from django.apps import AppConfig


class MatchConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "match"
