from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .middleware import record_sign_in

        user_logged_in.connect(record_sign_in, dispatch_uid="workspace.record_sign_in")
