from .models import Membership


def workspace_nav(request):
    """The signed-in person's workspaces, for the switcher in the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "my_memberships": Membership.objects.filter(user=user).select_related("workspace"),
    }
