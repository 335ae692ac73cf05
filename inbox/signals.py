"""What inbox tells other apps, so that it imports none of them.

``reply_created`` is sent inside the reply's transaction (``message=`` the new Message): a
receiver's rows are written with the reply or not at all, as api's webhook outbox needs (O6).
Receivers connect in their app's ``ready()``.
"""

from django.dispatch import Signal

reply_created = Signal()

# Sent by the reply view before a reply is written (``request=``, ``conversation=``). A receiver
# that answers True holds the reply: the view shows the conversation again (409) with the draft,
# for the agent to confirm (issue 22, N6: the live app's stale-reply guard).
reply_check = Signal()

# Sent after one member's read marker changed (``conversation=``, ``user=``): a write through
# ``QuerySet.update()``, which sends no model signal. The live app tells that member's other open
# pages, so their unread state follows (issue 22, N2).
read_marker_changed = Signal()
