"""The browser client's pages."""

from django.urls import path

from web import views

urlpatterns = [
    path("", views.play, name="play"),
    path("leaderboard/", views.leaderboard_page, name="leaderboard"),
]
