from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# JSON for /api/ paths, the HTML error pages elsewhere.
handler404 = "core.api.views.not_found_handler"
handler500 = "core.api.views.server_error_handler"

urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/", include("registry.api.urls")),
    path("api/v1/", include("lineage.api.urls")),
    path("api/v1/", include("audits.api.urls")),
    path("api/v1/", include("compliance.api.subjects_urls")),
    path("api/v1/", include("governance.api.urls")),
    path("api/v1/", include("compliance.api.dpia_urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/v1/", include("serving.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include("registry.urls")),
    path("", include("compliance.dpia_urls")),
    path("", include("audits.urls")),
    path("", include("governance.urls")),
    path("", include("compliance.urls")),
    path("", include("compliance.subject_urls")),
    path("", include("serving.urls")),
    path("", include("lineage.urls")),
    path("", include("core.urls")),
]
