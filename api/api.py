"""The inbound HTTP API (O5), built with Django Ninja: schema at /api/v1/openapi.json, docs at
/api/v1/docs (Swagger UI served from the project's own static files)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Annotated

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import DataError
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import AwareDatetime, ConfigDict, field_validator, model_validator

from contacts.models import PHONE_MAX_LENGTH, phone_validator
from ops import metrics

from . import ratelimit
from .inbound import Sender, receive_message
from .keys import api_key_authenticate

logger = logging.getLogger(__name__)

CHANNEL_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
# H2: what the database cannot hold (PostgreSQL refuses NUL and unpaired surrogates; other C0
# controls are refused too: no bridge sends them in a message, and they hide text on screen).
# Tab, line feed and carriage return (CRLF line ends) stay.
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# H2: dates a conversation can be shown with (and a UTC conversion cannot overflow).
EARLIEST_SENT_AT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_SENT_AT = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def storable_text(value):
    """Refuse control characters and unpaired surrogates (a 400 naming the field, never a 5xx)."""
    if isinstance(value, str) and _FORBIDDEN_CHARACTERS.search(value):
        raise ValueError(
            "Remove control characters (other than tab and line breaks) and invalid characters."
        )
    return value


class ApiError(Exception):
    """An error answered as ``{"detail": ...}`` with its status (and headers)."""

    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class ApiKeyAuth(HttpBearer):
    """Bearer workspace API key; the key's workspace must be the one in the URL (else 404),
    then the per-key rate, then the body's type and size, all before the body is parsed."""

    def authenticate(self, request: HttpRequest, token: str):
        # H7: an address that keeps sending wrong keys is slowed down before any look-up.
        address = request.META.get("REMOTE_ADDR", "")
        wait = ratelimit.failed_key_wait(address)
        if wait is not None:
            raise ApiError(
                429,
                f"Too many requests with a wrong API key from this address (limit "
                f"{settings.API_FAILED_KEYS_PER_MINUTE} a minute). Retry in {wait} s.",
                {"Retry-After": str(wait)},
            )
        key = api_key_authenticate(token)
        if key is None:
            ratelimit.record_failed_key(address)
            return None
        slug = (request.resolver_match.kwargs if request.resolver_match else {}).get("slug")
        if slug != key.workspace.slug:
            raise ApiError(404, "Not found.")
        wait = ratelimit.hit(key.pk)
        if wait is not None:
            raise ApiError(
                429,
                f"Too many requests for this API key (limit "
                f"{settings.API_RATE_LIMIT_PER_MINUTE} a minute). Retry in {wait} s.",
                {"Retry-After": str(wait)},
            )
        content_type = request.content_type or ""
        if content_type != "application/json":
            raise ApiError(415, "Send the body as JSON (Content-Type: application/json).")
        limit = settings.API_MAX_BODY_BYTES
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > limit or len(request.body) > limit:
            raise ApiError(413, f"The body is larger than {limit // 1024} KB.")
        return key


class SenderIn(Schema):
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=PHONE_MAX_LENGTH)

    @field_validator("name", "email", "phone", mode="before")
    @classmethod
    def _strip(cls, value):
        return storable_text(value).strip() if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value:
            try:
                validate_email(value)
            except DjangoValidationError:
                raise ValueError("Enter a valid email address.") from None
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not re.match(phone_validator.regex, value):
            raise ValueError(phone_validator.message)
        return value

    @model_validator(mode="after")
    def _email_or_phone(self):
        if not self.email and not self.phone:
            raise ValueError("Give the sender's email or phone (or both).")
        return self


class MessageIn(Schema):
    model_config = ConfigDict(populate_by_name=True)

    external_id: Annotated[str, Field(min_length=1, max_length=200)]
    channel: Annotated[
        str,
        Field(
            pattern=CHANNEL_PATTERN,
            description="A short slug: letters, digits, - and _ (at most 32), e.g. whatsapp.",
        ),
    ]
    sender: SenderIn = Field(alias="from")
    text: Annotated[str, Field(min_length=1, max_length=20000)]
    sent_at: AwareDatetime | None = Field(
        None, description="When the customer sent it, with a time zone (ISO 8601)."
    )

    @field_validator("external_id", "text", mode="before")
    @classmethod
    def _strip(cls, value):
        return storable_text(value).strip() if isinstance(value, str) else value

    @field_validator("sent_at")
    @classmethod
    def _storable_date(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+14:00 is in year 0 in UTC
            utc = None
        if utc is None or not EARLIEST_SENT_AT <= utc <= LATEST_SENT_AT:
            raise ValueError("Give a date between 1900 and 2200 (UTC).")
        return utc


class MessageOut(Schema):
    external_id: str
    message_id: int
    conversation_id: int
    contact_id: int


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]]


api = NinjaAPI(
    title="Team Inbox API",
    version="1",
    description=(
        "Send customer messages into a workspace's Inbox. Authenticate with a workspace API key "
        "(Settings › API): `Authorization: Bearer tik_…`."
    ),
    urls_namespace="api-v1",
)


# V2: inbound messages refused, by why (the counter's outcome label).
REFUSALS = {400: "invalid", 401: "unauthorized", 404: "not_found", 429: "rate_limited"}


def _json(request, status: int, body: dict, headers: dict | None = None) -> HttpResponse:
    metrics.inbound_message(REFUSALS.get(status, "refused"))  # only errors answer through here
    response = api.create_response(request, body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _json(request, exc.status, {"detail": exc.detail}, exc.headers)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return _json(
        request,
        401,
        {"detail": "Missing, wrong or revoked API key (Authorization: Bearer <key>)."},
        {"WWW-Authenticate": "Bearer"},
    )


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    detail = str(exc)
    if exc.status_code == 400 and detail.startswith("Cannot parse request body"):
        detail = "The body is not valid JSON."
    return _json(request, exc.status_code, {"detail": detail})


@api.exception_handler(DataError)
def _unstorable(request, exc: DataError):
    # H2: a value the database refuses is the sender's mistake, not an outage: never the 503
    # with Retry-After that a bridge would honour by resending forever. (Validation refuses
    # every such value we know of first, naming its field; this is the last line.)
    logger.warning("Inbound message refused by the database: %s", type(exc).__name__)
    return _json(
        request,
        400,
        {"detail": "Invalid input.", "errors": {"body": ["A value cannot be stored."]}},
    )


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        field = ".".join(loc) or "body"
        message = error.get("msg", "Invalid value.")
        message = message.removeprefix("Value error, ")
        errors.setdefault(field, []).append(message)
    return _json(request, 400, {"detail": "Invalid input.", "errors": errors})


@api.post(
    "/w/{slug}/messages",
    auth=ApiKeyAuth(),
    response={
        200: MessageOut,
        201: MessageOut,
        400: ValidationErrorOut,
        401: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        415: ErrorOut,
        429: ErrorOut,
    },
    summary="Receive a customer message",
    description=(
        "Finds the workspace's contact by exact email (case aside) or phone, creating one when "
        "none matches, and appends the message to that contact's open conversation on the "
        "channel (or opens one). 201 the first time; the same `external_id` again answers 200 "
        "with the same body and stores nothing."
    ),
    operation_id="receive_message",
)
def post_message(request, slug: str, payload: MessageIn):
    key = request.auth
    result = receive_message(
        workspace=key.workspace,
        api_key=key,
        external_id=payload.external_id,
        channel=payload.channel,
        sender=Sender(
            name=payload.sender.name, email=payload.sender.email, phone=payload.sender.phone
        ),
        text=payload.text,
        sent_at=payload.sent_at,
    )
    metrics.inbound_message("created" if result.created else "duplicate")
    return Status(201 if result.created else 200, result.as_json())
