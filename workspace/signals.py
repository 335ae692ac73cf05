"""What workspace tells the apps above it, so that it imports none of them.

``sessions_ended`` (``user=``) is sent when every signed-in session of a person was ended at once
(``roles.end_sessions``: a queryset update, which sends no model signal). The live app closes the
person's open live connections on it (issue 22, N1).
"""

from django.dispatch import Signal

sessions_ended = Signal()
