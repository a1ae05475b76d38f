from django.contrib import admin
from django.urls import include, path

from gameserver.views import metrics_view, readyz_view
from match import views

urlpatterns = [
    path("", views.play, name="play"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/matches/", views.match_create_view, name="match-create"),
    path("api/matches/<uuid:match_id>/", views.match_detail_view, name="match-detail"),
    path("", include("lobby.urls")),
    path("admin/", admin.site.urls),
]
