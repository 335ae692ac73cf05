"""Reads for the Inbox: the views, their bounded counts, a page of triage rows, one thread."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connection
from django.db.models import BooleanField, Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import phone_spellings
from core.keyset import KeysetPage, KeysetPaginator
from workspace.models import Workspace

from .models import Conversation, Message, ReadMarker

# N3: the Inbox's views, in the order of their tabs. "open" is the default.
FILTERS = ("open", "mine", "unassigned", "closed", "all")
FILTER_LABELS = {
    "open": "Open",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "closed": "Closed",
    "all": "All",
}
ORDERING = ("-last_activity_at", "-id")
PAGE_SIZE = 30
# A view's count stops here ("99+"): reading at most this many index entries, never the workspace.
COUNT_LIMIT = 100
PREVIEW_LENGTH = 160
QUERY_MAX_LENGTH = 200
# N4: PostgreSQL text search configuration for message words. 'simple' (no stemming, no stop
# words): customers write in many languages, and an agent searches for the words they saw.
SEARCH_CONFIG = "simple"
SEARCH_WINDOW = 1000
# N4: beyond the window, a search word found in at most this many conversations is looked up
# in the GIN index first (see _conversations_with_words).
WORD_HITS_MAX = 20000


def clean_filter(value: str | None) -> str:
    return value if value in FILTERS else "open"


def _awake(now: datetime) -> Q:
    """Not snoozed, or snoozed until a time that has passed (N7: snooze ends by itself)."""
    return Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)


def conversation_list(
    *, workspace: Workspace, user, filter: str = "open", now: datetime | None = None
) -> QuerySet:
    """The workspace's conversations in one view, newest activity first (I1, N3)."""
    now = now or timezone.now()
    conversations = Conversation.objects.filter(workspace=workspace).select_related(
        "contact", "assignee"
    )
    is_open = Q(status=Conversation.Status.OPEN) & _awake(now)
    if filter == "open":
        conversations = conversations.filter(is_open)
    elif filter == "closed":
        conversations = conversations.filter(status=Conversation.Status.CLOSED)
    elif filter == "mine":
        conversations = conversations.filter(is_open, assignee=user)
    elif filter == "unassigned":
        conversations = conversations.filter(is_open, assignee__isnull=True)
    return conversations.order_by(*ORDERING)


@dataclass(frozen=True)
class ViewCount:
    key: str
    label: str
    count: int  # at most COUNT_LIMIT

    @property
    def shown(self) -> str:
        return f"{COUNT_LIMIT - 1}+" if self.count >= COUNT_LIMIT else str(self.count)


def view_counts(*, workspace: Workspace, user) -> list[ViewCount]:
    """Each view with its count, bounded: at most ``COUNT_LIMIT`` ids read per view (N3).

    One statement for the five views: each view's bounded id list (its own index range, LIMIT
    ``COUNT_LIMIT``), joined with UNION ALL and counted here; never a COUNT in the database.
    """
    now = timezone.now()
    parts, params = [], []
    for n, key in enumerate(FILTERS):
        ids = conversation_list(workspace=workspace, user=user, filter=key, now=now)
        bounded = ids.select_related(None).values("pk")[:COUNT_LIMIT]
        sql, view_params = bounded.query.sql_with_params()
        name = connection.ops.quote_name(key)
        parts.append(f"SELECT {n} AS v FROM ({sql}) AS {name}")  # noqa: S608
        params.extend(view_params)
    found = [0] * len(FILTERS)
    # Only Django's own compiled SQL, view numbers and quoted constant names are interpolated.
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for (n,) in cursor.fetchall():
            found[n] += 1
    return [
        ViewCount(key, FILTER_LABELS[key], count) for key, count in zip(FILTERS, found, strict=True)
    ]


def message_words(query: str) -> RawSQL:
    """PostgreSQL: a message has the query's words, in the very expression of migration 0005's
    GIN index (``msg_body_fts``), so the index answers it."""
    # Only the constant configuration name is interpolated; the query stays a parameter.
    return RawSQL(  # noqa: S611
        f"to_tsvector('{SEARCH_CONFIG}', body) @@ plainto_tsquery('{SEARCH_CONFIG}', %s)",
        (query,),
        output_field=BooleanField(),
    )


def _message_match(query: str) -> Q:
    """Conversations with a message containing the query's words (N4)."""
    messages = Message.objects.filter(conversation=OuterRef("pk"))
    if connection.vendor == "postgresql":
        messages = messages.filter(message_words(query))
    else:
        messages = messages.filter(body__icontains=query)
    return Q(Exists(messages))


def _contact_match(query: str, region: str | None) -> Q:
    """Contact name, email or phone containing the query (the contacts' trigram indexes on
    PostgreSQL), or, for a whole phone number, a phone stored in another of its spellings."""
    found = (
        Q(contact__name__icontains=query)
        | Q(contact__email__icontains=query)
        | Q(contact__phone__icontains=query)
    )
    if phones := phone_spellings(query, region):
        found |= Q(contact__phone__in=phones)
    return found


def search_filter(query: str, region: str | None = None) -> Q:
    """Contact name, email or phone containing the query, or a message with its words (N4)."""
    return _contact_match(query, region) | _message_match(query)


def _conversations_with_words(query: str) -> tuple[Q, bool]:
    """PostgreSQL, the keyset walk's step 2: the conversations with a message with the query's
    words, as ids looked up in the GIN index first (at most ``WORD_HITS_MAX``), and False: the
    planner chooses how to use them.

    Asked as a subquery instead, PostgreSQL guesses that any word it has no statistics for (a
    rare word, an address) is in 0.5% of the messages, walks the list in order testing each
    conversation's messages, and for a word in one message walks all of them (~2 minutes at
    1,000,000 conversations). Given the ids it knows how many there are: a few are fetched by
    id and sorted, many make the ordered walk meet one soon (a hashed test per row). A word in
    more conversations than ``WORD_HITS_MAX`` keeps the plain filter: the walk meets it soon.
    """
    hits = (
        # All workspaces' messages (the GIN index has no workspace): joined to their
        # conversations here, PostgreSQL's 0.5% guess made it walk the workspace again. The
        # list's own query drops other workspaces' ids.
        Message.objects.filter(message_words(query))
        .order_by()
        .values_list("conversation_id", flat=True)
        .distinct()[: WORD_HITS_MAX + 1]
    )
    ids = list(hits)
    if len(ids) > WORD_HITS_MAX:
        return _message_match(query), False
    # One array parameter, not thousands of placeholders; typed, so PostgreSQL hashes it (an
    # untyped one is searched element by element: 40 s for a 1,000,000-row walk).
    found = RawSQL(
        '"inbox_conversation"."id" = ANY(%s::bigint[])', (ids,), output_field=BooleanField()
    )
    return Q(found), False


def _conversations_of_contacts(query: str, workspace: Workspace) -> tuple[Q, bool]:
    """PostgreSQL, the keyset walk's step 2: the conversations of the contacts the query finds,
    as contact ids looked up in the trigram indexes first (at most ``WORD_HITS_MAX``), for the
    planner to use as ``_conversations_with_words`` does; more than that: the contacts' join,
    through the search indexes only (contacts' L1)."""
    found = Q(name__icontains=query) | Q(email__icontains=query) | Q(phone__icontains=query)
    if phones := phone_spellings(query, workspace.phone_region):
        found |= Q(phone__in=phones)
    hits = (
        Contact.objects.filter(found, workspace=workspace)
        .order_by()
        .values_list("pk", flat=True)[: WORD_HITS_MAX + 1]
    )
    ids = list(hits)
    if len(ids) > WORD_HITS_MAX:
        return _contact_match(query, workspace.phone_region), True
    found = RawSQL(
        '"inbox_conversation"."contact_id" = ANY(%s::bigint[])', (ids,), output_field=BooleanField()
    )
    return Q(found), False


def search_parts(query: str, *, workspace: Workspace) -> list:
    """PostgreSQL: the two halves of ``search_filter`` for the keyset walk's step 2, each
    answered by its own index first: the contacts' trigram indexes, the messages' GIN index.
    Their OR is the same set of conversations."""
    return [
        partial(_conversations_of_contacts, query, workspace),
        partial(_conversations_with_words, query),
    ]


def conversation_page(
    *,
    workspace: Workspace,
    user,
    filter: str,
    query: str = "",
    after=None,
    before=None,
) -> KeysetPage:
    """One page of the Inbox (L3): keyset on (last activity, id), newest first, no count (L2);
    with ``query``, only the conversations it finds (N4). Rows carry the viewer's triage facts.

    Raises ``InvalidCursor`` for a cursor that cannot be read.
    """
    conversations = conversation_list(workspace=workspace, user=user, filter=filter)
    query = query.strip()[:QUERY_MAX_LENGTH]
    if query and connection.vendor == "postgresql":
        # Bounded whether the matches are many or few: the windowed keyset walk (contacts' L1).
        paginator = KeysetPaginator(
            conversations,
            ORDERING,
            PAGE_SIZE,
            narrow=search_filter(query, workspace.phone_region),
            narrow_indexed=True,
            # Beyond the window, each half through its own indexes (an OR of the two is
            # answered by none: 1,000,000 conversations tested one by one, ~2 minutes).
            narrow_parts=search_parts(query, workspace=workspace),
            # Each row of the window tests its messages' words (to_tsvector per message): a
            # window no larger than a small workspace keeps that step the same cost at any size.
            window=SEARCH_WINDOW,
        )
    else:
        if query:
            conversations = conversations.filter(search_filter(query, workspace.phone_region))
        paginator = KeysetPaginator(conversations, ORDERING, PAGE_SIZE)
    page = paginator.page(after=after, before=before)
    with_triage(page.object_list, user=user)
    return page


def with_triage(conversations: list[Conversation], *, user) -> list[Conversation]:
    """Set ``preview``, ``unread`` and ``mentioned`` on each row for this viewer (N2, N3).

    One query for the whole page: the page's conversations by id, each with scalar subqueries
    on its read marker and messages. The page's own query stays the index range it is.
    """
    ids = [c.pk for c in conversations]
    if not ids:
        return conversations
    marker = ReadMarker.objects.filter(conversation=OuterRef("pk"), user=user)
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), pk__gt=OuterRef("read_to"))
        .exclude(author=user)
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(direction=Message.Direction.NOTE)
        .order_by("-pk")
    )
    facts = {
        row["pk"]: row
        for row in Conversation.objects.filter(pk__in=ids)
        .order_by()
        .annotate(
            read_to=Coalesce(Subquery(marker.values("last_read_message_id")[:1]), 0),
            is_mentioned=Coalesce(Subquery(marker.values("mentioned")[:1]), False),
            unread_count=Coalesce(Subquery(unread), 0),
            snippet=Subquery(last.annotate(s=Substr("body", 1, PREVIEW_LENGTH)).values("s")[:1]),
            last_direction=Subquery(last.values("direction")[:1]),
        )
        .values("pk", "is_mentioned", "unread_count", "snippet", "last_direction")
    }
    for conversation in conversations:
        row = facts.get(conversation.pk, {})
        conversation.unread = row.get("unread_count") or 0
        conversation.mentioned = bool(row.get("is_mentioned"))
        snippet = row.get("snippet")
        conversation.preview = " ".join(snippet.split()) if snippet else ""
        conversation.preview_from_team = row.get("last_direction") == Message.Direction.OUT
    return conversations


@dataclass(frozen=True)
class Thread:
    messages: list[Message]
    first_unread_id: int | None  # N5: where the "New" marker goes


def conversation_thread(*, conversation: Conversation, user) -> Thread:
    """The conversation's messages, and the first one this viewer has not read (N5)."""
    marker = ReadMarker.objects.filter(conversation=conversation, user=user).first()
    read_up_to = marker.last_read_message_id if marker else 0
    messages = list(conversation.messages.select_related("author", "webhook_delivery"))
    first_unread = next(
        (
            m.pk
            for m in messages
            if m.pk > read_up_to and (m.author_id is None or m.author_id != user.pk)
        ),
        None,
    )
    return Thread(messages, first_unread)


def next_in_view(
    *, conversation: Conversation, workspace: Workspace, user, filter: str, query: str = ""
) -> Conversation | None:
    """The conversation after this one in the view (or, at the end, the one before) (N7)."""
    conversations = conversation_list(workspace=workspace, user=user, filter=filter).exclude(
        pk=conversation.pk
    )
    query = query.strip()[:QUERY_MAX_LENGTH]
    if query:
        conversations = conversations.filter(search_filter(query, workspace.phone_region))
    at, pk = conversation.last_activity_at, conversation.pk
    older = Q(last_activity_at__lt=at) | Q(last_activity_at=at, id__lt=pk)
    following = conversations.filter(older).first()
    if following is not None:
        return following
    return conversations.exclude(older).order_by("last_activity_at", "id").first()


# --- N7: mentions ---------------------------------------------------------------------------------
MENTION = re.compile(r"(?<![\w.@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)", re.UNICODE)


def _mention_keys(user) -> list[str]:
    """The names "@" can use for a member, the shortest first: first name, full name without
    spaces, the email's local part, the whole email (lower case)."""
    email = user.email.lower()
    keys = []
    if user.full_name:
        keys += [user.full_name.split()[0].lower(), user.full_name.replace(" ", "").lower()]
    return list(dict.fromkeys([*keys, email.split("@")[0], email]))


def _members_by_key(workspace) -> tuple[list, dict[str, list]]:
    members = [m.user for m in workspace.memberships.select_related("user").order_by("id")]
    names: dict[str, list] = {}
    for user in members:
        for key in _mention_keys(user):
            names.setdefault(key, []).append(user)
    return members, names


def mentioned_members(*, conversation: Conversation, body: str) -> list:
    """The workspace's members named with "@" in ``body`` (N7); unknown or ambiguous names: none."""
    tokens = {token.rstrip(".").lower() for token in MENTION.findall(body)}
    if not tokens:
        return []
    _, names = _members_by_key(conversation.workspace)
    found = []
    for token in sorted(tokens):
        candidates = names.get(token, [])
        if len(candidates) == 1 and candidates[0] not in found:
            found.append(candidates[0])
    return found


def mention_handles(*, workspace, exclude=None) -> list[dict[str, str]]:
    """The composer's "@" suggestions (N7): each member but ``exclude``, with the first of
    their names that names only them (what ``mentioned_members`` will find)."""
    members, names = _members_by_key(workspace)
    handles = []
    for user in members:
        handle = next((k for k in _mention_keys(user) if len(names[k]) == 1), None)
        if handle and user != exclude:
            handles.append({"handle": handle, "name": user.display_name})
    return handles
