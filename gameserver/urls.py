from django.contrib import admin
from django.urls import include, path

from match import views

urlpatterns = [
    path("", views.play, name="play"),
    path("healthz", views.healthz, name="healthz"),
    path("api/matches/", views.match_create_view, name="match-create"),
    path("api/matches/<uuid:match_id>/", views.match_detail_view, name="match-detail"),
    path("", include("lobby.urls")),
    path("admin/", admin.site.urls),
]
