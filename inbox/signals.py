"""What inbox tells other apps, so that it imports none of them."""

from django.dispatch import Signal

# Sent by the reply view before a reply is written (``request=``, ``conversation=``). A receiver
# that answers True holds the reply: the view shows the conversation again (409) with the draft,
# for the agent to confirm (issue 22, N6: the live app's stale-reply guard).
reply_check = Signal()
