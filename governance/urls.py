from django.urls import path

from governance import views

# Names carry a "governance-" prefix: the API's router already uses "release-list", "signing-key-detail"...
urlpatterns = [
    path("reviews/", views.review_queue, name="governance-review-queue"),
    path("releases/", views.release_list, name="governance-release-list"),
    path("releases/<int:pk>/", views.release_detail, name="governance-release-detail"),
    path("releases/<int:pk>/sign/", views.release_sign, name="governance-release-sign"),
    path("keys/", views.key_list, name="governance-key-list"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="governance-key-revoke"),
    path("boards/", views.board_list, name="governance-board-list"),
    path("boards/<int:pk>/", views.board_detail, name="governance-board-detail"),
    path("policies/", views.policy_list, name="governance-policy-list"),
    path("policies/<int:pk>/", views.policy_detail, name="governance-policy-detail"),
]
