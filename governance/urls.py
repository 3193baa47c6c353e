from django.urls import path

from governance import board_views, policy_views, views

# Names carry a "governance-" prefix: the API's router already uses "release-list", "signing-key-detail"...
urlpatterns = [
    path("reviews/", views.review_queue, name="governance-review-queue"),
    path("releases/", views.release_list, name="governance-release-list"),
    path("releases/<int:pk>/", views.release_detail, name="governance-release-detail"),
    path("releases/<int:pk>/sign/", views.release_sign, name="governance-release-sign"),
    path("keys/", views.key_list, name="governance-key-list"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="governance-key-revoke"),
    path("boards/", board_views.board_list, name="governance-board-list"),
    path("boards/new/", board_views.board_create, name="governance-board-create"),
    path("boards/<int:pk>/", board_views.board_detail, name="governance-board-detail"),
    path("boards/<int:pk>/members/", board_views.board_member_add, name="governance-board-member-add"),
    path(
        "boards/<int:pk>/members/<int:seat>/remove/",
        board_views.board_member_remove,
        name="governance-board-member-remove",
    ),
    # Not under environments/: serving's environments/<slug>/ pages would shadow (or be shadowed by) a "new" slug.
    path("new-environment/", board_views.environment_create, name="governance-environment-create"),
    path("policies/", policy_views.policy_list, name="governance-policy-list"),
    path("policies/new/", policy_views.policy_create, name="governance-policy-create"),
    path("policies/<int:pk>/", policy_views.policy_detail, name="governance-policy-detail"),
    path(
        "policies/<int:pk>/versions/new/", policy_views.policy_version_create, name="governance-policy-version-create"
    ),
]
