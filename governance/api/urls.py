from django.urls import include, path
from rest_framework.routers import DefaultRouter

from governance.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("environments", views.EnvironmentViewSet, basename="environment")
router.register("boards", views.BoardViewSet, basename="board")
router.register("release-policies", views.PolicyViewSet, basename="release-policy")
router.register("signing-keys", views.SigningKeyViewSet, basename="signing-key")
router.register("releases", views.ReleaseViewSet, basename="release")

board_members = views.BoardMemberViewSet.as_view({"get": "list", "post": "create"})
board_member = views.BoardMemberViewSet.as_view({"delete": "destroy"})
policy_versions = views.PolicyVersionViewSet.as_view({"get": "list", "post": "create"})
approvals = views.ApprovalViewSet.as_view({"get": "list", "post": "create"})

urlpatterns = [
    path("boards/<int:board_pk>/members/", board_members, name="board-member-list"),
    path("boards/<int:board_pk>/members/<int:pk>/", board_member, name="board-member-detail"),
    path("release-policies/<int:policy_pk>/versions/", policy_versions, name="release-policy-version-list"),
    path("releases/<int:release_pk>/approvals/", approvals, name="release-approval-list"),
    path("", include(router.urls)),
]
