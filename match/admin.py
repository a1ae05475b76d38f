from django.contrib import admin

from match.models import Match, MatchSeat


class MatchSeatInline(admin.TabularInline):
    model = MatchSeat
    extra = 0


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin):
    list_display = ["id", "game", "mode", "status", "created_at", "started_at", "ended_at", "ticks"]
    list_filter = ["status", "game", "mode"]
    readonly_fields = ["id", "seed", "created_at", "started_at", "ended_at", "ticks", "result"]
    inlines = [MatchSeatInline]
