"""Lobby HTTP routes: accounts and tokens, leaderboards, player profiles."""

from django.urls import path

from lobby.views import auth, stats

urlpatterns = [
    path("api/auth/guest/", auth.guest_view, name="auth-guest"),
    path("api/auth/register/", auth.register_view, name="auth-register"),
    path("api/auth/login/", auth.login_view, name="auth-login"),
    path("api/auth/logout/", auth.logout_view, name="auth-logout"),
    path("api/auth/token/", auth.token_view, name="auth-token"),
    path("api/auth/me/", auth.me_view, name="auth-me"),
    path("api/leaderboard/<str:mode>/", stats.leaderboard_view, name="leaderboard-api"),
    path("api/players/<int:player_id>/", stats.player_view, name="player-detail"),
]
