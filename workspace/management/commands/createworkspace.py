"""`manage.py createworkspace "Acme Support" --owner alice@example.com [--slug acme]` (O1)."""

from django.core.management.base import BaseCommand, CommandError

from workspace.onboarding import WorkspaceSetupError, workspace_create


class Command(BaseCommand):
    help = "Create a workspace and its first Owner; prints a set-password link for a new person."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The workspace\'s name, e.g. "Acme Support".')
        parser.add_argument("--owner", required=True, help="The first Owner's email address.")
        parser.add_argument("--slug", help="The URL name (default: derived from the name).")

    def handle(self, *args, name: str, owner: str, slug: str | None, **options):
        try:
            created = workspace_create(name=name, owner_email=owner, slug=slug)
        except WorkspaceSetupError as exc:
            raise CommandError(str(exc)) from None
        ws = created.workspace
        self.stdout.write(self.style.SUCCESS(f"Created workspace {ws.name!r} (/w/{ws.slug}/)."))
        self.stdout.write(f"Owner: {created.owner.email}")
        if created.set_password_url:
            self.stdout.write(
                "They have no password yet. Send them this single-use link to choose one "
                "(valid for 3 days):"
            )
            self.stdout.write(created.set_password_url)
        else:
            self.stdout.write("They already have an account: they sign in with their password.")
