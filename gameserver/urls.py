from django.contrib import admin
from django.urls import include, path

from gameserver.http import login_form_throttle
from gameserver.views import metrics_view, readyz_view
from match import views

urlpatterns = [
    path("", include("web.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/matches/", views.match_create_view, name="match-create"),
    path("api/matches/<uuid:match_id>/", views.match_detail_view, name="match-detail"),
    path("", include("lobby.urls")),
    # The admin's own login page, its POSTs throttled per address and per username (before the
    # admin's patterns, which would otherwise answer the same path unthrottled).
    path("admin/login/", login_form_throttle(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
]
