from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser client: pages, templates and static files. ``match`` and ``lobby`` never
    import it, so a deployment may replace it with its own client."""

    name = "web"
    default_auto_field = "django.db.models.BigAutoField"
