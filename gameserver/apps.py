from django.apps import AppConfig


class GameserverConfig(AppConfig):
    name = "gameserver"
