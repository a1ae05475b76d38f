"""Admin: players, tokens (never their hashes), ratings, rating history and chat."""

from django.contrib import admin
from django.http import HttpRequest

from lobby.models import AuthToken, ChatMessage, Player, Rating, RatingChange


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "is_guest", "online_since", "created_at"]
    list_filter = ["is_guest"]
    search_fields = ["name", "name_key", "user__username"]
    readonly_fields = ["name_key", "online_since", "created_at"]


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    """View and revoke (delete) only: a token is issued to its client, never made here."""

    list_display = ["user", "created_at", "expires_at"]
    fields = ["user", "created_at", "expires_at"]
    readonly_fields = ["user", "created_at", "expires_at"]
    search_fields = ["user__username"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuthToken | None = None) -> bool:
        return False


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["user", "mode", "rating", "mu", "sigma", "games", "wins", "losses", "draws", "updated_at"]
    list_filter = ["mode"]
    search_fields = ["user__username"]


@admin.register(RatingChange)
class RatingChangeAdmin(admin.ModelAdmin):
    list_display = ["match", "user", "mode", "rank", "outcome", "before", "after", "skill", "created_at"]
    list_filter = ["mode"]
    search_fields = ["user__username"]


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["name", "text", "user", "created_at"]
    search_fields = ["name", "text"]
