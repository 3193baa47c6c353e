from django.urls import path

from compliance import dpia_views

# Names carry a "compliance-" prefix: the API's router already uses "dpia-list", "dpia-detail"...
urlpatterns = [
    path("compliance/dpias/", dpia_views.dpia_list, name="compliance-dpia-list"),
    path("compliance/dpias/new/", dpia_views.dpia_create, name="compliance-dpia-create"),
    path("compliance/dpias/<int:pk>/", dpia_views.dpia_detail, name="compliance-dpia-detail"),
    path("compliance/dpias/<int:pk>/pdf/", dpia_views.dpia_pdf, name="compliance-dpia-pdf"),
    path("compliance/dpias/<int:pk>/edit/", dpia_views.dpia_edit, name="compliance-dpia-edit"),
    path("compliance/dpias/<int:pk>/screen/", dpia_views.dpia_screen, name="compliance-dpia-screen"),
    path("compliance/dpias/<int:pk>/submit/", dpia_views.dpia_submit, name="compliance-dpia-submit"),
    path("compliance/dpias/<int:pk>/review/", dpia_views.dpia_review, name="compliance-dpia-review"),
    path("compliance/dpias/<int:pk>/new-version/", dpia_views.dpia_new_version, name="compliance-dpia-new-version"),
    path("compliance/reclassify/", dpia_views.reclassify, name="compliance-reclassify"),
]
