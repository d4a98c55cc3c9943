"""Every setting of Switchboard, read from the environment and ``.env``."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.business_hours import BusinessHours, parse_dates, parse_week, zone_named

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(SystemExit):
    """A bad setting: start-up stops with one readable line naming the variable."""


def _listed(value: object) -> object:
    """A list setting's value: a JSON array, or a comma-separated string (blank items
    dropped); anything else as it is, for its validator to refuse."""
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text.startswith("[") else [
            part for part in (p.strip() for p in text.split(",")) if part
        ]
    return value


class Settings(BaseSettings):
    """Typed settings; field names are the environment variable names, case-insensitive."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage: Supabase when SUPABASE_URL is set, the embedded SQLite file otherwise.
    supabase_url: AnyHttpUrl | None = None
    supabase_service_role_key: SecretStr = SecretStr("")
    supabase_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    database_path: Path = REPO_ROOT / "instance" / "switchboard.db"
    # The inbound spool used while the store is down (services/spool.py): one file per host,
    # shared by its processes. Unset: "spool.db" next to DATABASE_PATH.
    spool_path: Path | None = None
    spool_replay_batch: int = Field(default=50, ge=1, le=1000)
    # Group commit (services/inbound_batch.py): messages arriving while a store call is in
    # flight share the next one, up to this many; 1 turns it off. At most this many calls
    # for inbound messages are in flight at once per process.
    inbound_max_batch: int = Field(default=50, ge=1, le=500)
    inbound_max_in_flight: int = Field(default=2, ge=1, le=64)

    # Web app.
    secret_key: SecretStr = SecretStr("")
    secret_key_file: Path = REPO_ROOT / "instance" / "secret_key"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_max_page_size: int = Field(default=200, ge=1, le=1000)

    # Socket.IO: "threading" for the development server, "gevent" under gunicorn.
    socketio_async_mode: Literal["threading", "gevent"] = "threading"
    socketio_message_queue: str | None = None
    # permessage-deflate on Socket.IO's WebSockets (admin_app/websocket_compression.py): off
    # by default, as Engine.IO's own server has it: it costs CPU and memory per socket.
    socketio_websocket_compression: bool = False

    # Bot (services/assistant): which responder answers, and its parameters.
    responder: Literal["faq", "webhook", "openai", "off"] = "faq"
    knowledge_file: Path = REPO_ROOT / "services" / "assistant" / "knowledge" / "sample.yaml"
    faq_min_score: float = Field(default=70.0, ge=0, le=100)
    bot_fallback_text: str = "Sorry, I'm not sure I understood. Could you rephrase that?"
    bot_webhook_url: AnyHttpUrl | None = None
    bot_api_base: AnyHttpUrl | None = None
    bot_api_key: SecretStr = SecretStr("")
    bot_model: str = "gpt-4o-mini"
    bot_system_prompt: str = (
        "You are the helpful assistant of a business, answering its customers briefly."
    )
    bot_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    bot_retries: int = Field(default=2, ge=0, le=10)
    # A responder slower than this shows the bot typing to the person meanwhile (a ``typing``
    # event of the bot: Messenger's typing_on, the widget's and the admins' indicator); 0:
    # never. The FAQ responder answers at once and never does.
    bot_typing_after_seconds: float = Field(default=1.0, ge=0, le=60)
    max_conversation_length: int = Field(default=10, ge=1, le=200)

    # Escalation (services/escalation.py) and handoff.
    escalation_confidence_threshold: float = Field(default=0.5, ge=0, le=1)
    escalation_max_fallbacks: int = Field(default=3, ge=1, le=50)
    escalation_phrases: list[str] = [
        "talk to a human", "speak to a human", "real person", "human agent", "agent",
        "speak to someone", "customer service", "representative", "operator",
        # The widget says "person" ("Talk to a person"), so visitors write it too.
        "talk to a person", "speak to a person", "talk with a person", "speak with a person",
        "talk with a human", "speak with a human", "talk to someone", "talk to somebody",
        "speak to somebody", "real human", "live person",
        "parler à un humain", "hablar con una persona", "mit einem menschen",
    ]
    frustration_markers: list[str] = [
        "useless", "stupid", "not helpful", "doesn't help", "does not help", "annoying",
        "ridiculous", "waste of time", "frustrat", "angry", "terrible", "worst", "!!!",
        "wtf", "you don't understand", "not what i asked",
    ]
    frustration_min_messages: int = Field(default=2, ge=1, le=5)
    handoff_message: str = "I'm passing you to a person on our team; they'll answer here shortly."
    handoff_timeout_minutes: float = Field(default=10.0, gt=0)
    handoff_timeout_message: str = (
        "Sorry for the wait: our team is busy, and we'll get back to you here as soon as we can."
    )
    priority_raise_after_minutes: float = Field(default=15.0, gt=0)

    # Asked on Messenger when an account closes a conversation, with quick replies 1 to 5
    # (channels/messenger/ratings.py); empty: never asked. The web chat asks in its widget.
    rating_request_message: str = (
        "Thanks for talking with us! How did we do? Tap a score: 1 is poor, 5 is great."
    )

    # Business hours (services/business_hours.py): unset, the team is always open.
    business_timezone: str = "UTC"
    business_closed_dates: Annotated[list[date], NoDecode] = []
    business_hours: str = ""
    # How long a process keeps the hours set on Settings before reading them again.
    business_hours_refresh_seconds: float = Field(default=10.0, gt=0, le=3600)
    away_message: str = (
        "Thanks for your message! Our team is away right now; we're back {next_open} "
        "and will answer you here."
    )

    # Conversation lifecycle (services/lifecycle.py).
    idle_timeout_minutes: float = Field(default=30.0, gt=0)
    close_after_hours: float = Field(default=24.0, gt=0)
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    # Auto-assignment: a conversation handed to humans goes to the available account with
    # the fewest open ones (at most AUTO_ASSIGN_MAX_OPEN each; 0: no limit).
    auto_assign: bool = False
    auto_assign_max_open: int = Field(default=0, ge=0, le=1000)
    # Only to accounts online (a page of the panel open within OFFLINE_AFTER_SECONDS);
    # false: to available accounts with or without a page open (teams working by API).
    auto_assign_online_only: bool = True
    # Conversations closed and untouched for longer are deleted (0: kept forever).
    retention_days: int = Field(default=0, ge=0, le=36500)

    # Facebook Messenger (channels/messenger).
    facebook_page_access_token: SecretStr = SecretStr("")
    facebook_app_secret: SecretStr = SecretStr("")
    facebook_verify_token: SecretStr = SecretStr("")
    facebook_app_id: str = ""
    graph_api_base: AnyHttpUrl = AnyHttpUrl("https://graph.facebook.com")
    graph_api_version: str = Field(default="v24.0", pattern=r"^v\d+\.\d+$")
    graph_api_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # How long a send of unknown outcome (timeout, lost connection, crash) waits for
    # Facebook's echo before it is tried again; 0 retries at once (and may send twice).
    messenger_echo_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # "typing…" while an agent writes, and "Seen" once an account has read the person's
    # message (channels/messenger/sender_actions.py).
    messenger_sender_actions: bool = True
    # The picture of the personas agents' replies go out as ("Sam from <Page>", with the
    # account's name; channels/messenger/personas.py); unset: every reply is the Page's.
    messenger_persona_picture_url: AnyHttpUrl | None = None

    # Background work: the outbox and the bot's answers (services/worker.py).
    send_max_attempts: int = Field(default=8, ge=1, le=50)
    job_lease_seconds: float = Field(default=120.0, gt=0)
    run_worker_in_app: bool = True

    # Admin panel (admin_app): sessions, login throttling, live updates.
    session_cookie_secure: bool = False  # true behind HTTPS: the cookie never travels in clear
    # Served over HTTPS only: plain-http requests are redirected, HSTS is sent, cookies Secure.
    force_https: bool = False
    session_lifetime_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    login_rate_limit: str = Field(  # per client address and per e-mail; "N per minute|hour|day"
        default="10 per minute", pattern=r"^\d+ ?(/|per) ?(\d+ )?(second|minute|hour|day)s?$"
    )
    ratelimit_storage_uri: str = "memory://"
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    admin_stats_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    # The largest file an agent may attach to a reply (admin_app/files.py). Messenger takes
    # up to 25 MB; on Supabase the bytes travel as base64, a third larger, through the
    # gateway in front of PostgREST.
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=25 * 1000 * 1000)
    # A file an agent uploaded and no reply carried (taken off again, or the page left) is
    # deleted by the lifecycle sweep after this many hours (0: kept with its conversation).
    unsent_file_hours: int = Field(default=24, ge=0, le=24 * 365)
    # How often each process re-checks the accounts behind its open /admin sockets.
    admin_session_recheck_seconds: float = Field(default=30.0, gt=0, le=3600)
    # An account with no page of the panel open for this long is offline (Settings' "Last
    # seen"; auto-assignment passes it over). Each process says which accounts have a page
    # open every third of it, so closing the last tab counts within this long.
    offline_after_seconds: float = Field(default=90.0, ge=3, le=86400)
    # A page nobody has used (no key, click, pointer or scroll) for this long is idle: it
    # stops keeping its account online until it is used again (0: pages are never idle).
    idle_after_seconds: float = Field(default=900.0, ge=0, le=86400)

    # Web chat (channels/webchat): the widget, its Socket.IO namespace and HTTP fallback.
    chat_max_message_length: int = Field(default=1000, ge=1, le=100_000)
    chat_history_limit: int = Field(default=50, ge=1, le=1000)
    # The largest file a visitor may send from the widget (POST /chat/files); 0: visitors
    # send no files (the widget shows no button). Smaller than UPLOAD_MAX_BYTES by default:
    # visitors are anonymous.
    chat_upload_max_bytes: int = Field(default=5 * 1024 * 1024, ge=0, le=25 * 1000 * 1000)
    # Origins (scheme://host[:port]) of the sites that embed the widget, as a JSON list or
    # comma-separated; empty means the widget works only on pages served by this app.
    chat_allowed_origins: Annotated[list[str], NoDecode] = []
    chat_rate_limit: str = Field(  # messages per visitor, over HTTP and the socket together
        default="20/minute", pattern=r"^\d+ ?(/|per) ?(\d+ )?(second|minute|hour|day)s?$"
    )
    chat_session_rate_limit: str = Field(  # new or resumed visitor sessions per client address
        default="30/minute", pattern=r"^\d+ ?(/|per) ?(\d+ )?(second|minute|hour|day)s?$"
    )
    chat_token_max_age_days: float = Field(default=30.0, gt=0, le=3650)
    # Identity verification: a site that signs its customers in gives the widget their id and
    # HMAC-SHA256(CHAT_IDENTITY_SECRET, id) (channels/webchat/identity.py); empty: off.
    chat_identity_secret: SecretStr = SecretStr("")
    # What the widget tells someone who asked for a person about the wait: "auto", the
    # median first human response of the stats; "off", nothing; or a number of minutes.
    chat_reply_time: str = Field(default="auto", pattern=r"^(auto|off|[1-9][0-9]{0,4})$")

    @field_validator("chat_allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        """A JSON list or a comma-separated string of origins, normalised; ``*`` is any."""
        value = _listed(value)
        if not isinstance(value, list):
            raise ValueError("must be a list of origins")
        origins = []
        for item in value:
            origin = str(item).strip().rstrip("/").lower()
            if origin != "*":
                parts = urlsplit(origin)
                if parts.scheme not in ("http", "https") or not parts.netloc or parts.path \
                        or parts.query or parts.fragment:
                    raise ValueError(f"{item!r} is not an origin like https://shop.example.com")
            origins.append(origin)
        return origins

    @field_validator("messenger_persona_picture_url", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("business_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return zone_named(value).key

    @field_validator("business_closed_dates", mode="before")
    @classmethod
    def _closed_dates(cls, value: object) -> object:
        return parse_dates(_listed(value))

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value.strip():
            parse_week(value)
        return value

    @property
    def hours(self) -> BusinessHours | None:
        """The business hours, or None when the team is always open (parsed on each
        call, so a copy with other settings never keeps an older schedule)."""
        return BusinessHours.parse(self.business_hours, self.business_timezone,
                                   self.business_closed_dates)

    @model_validator(mode="after")
    def _lease_outlasts_the_bot(self) -> "Settings":
        # A job still running when its lease ends is claimed again by another process,
        # which would answer or send twice: the lease must outlast a bot call with retries.
        slowest = self.bot_timeout_seconds * (self.bot_retries + 1) + self.graph_api_timeout_seconds
        if self.job_lease_seconds < slowest:
            raise ValueError(
                f"JOB_LEASE_SECONDS must be at least {slowest:g}: a bot call with all its "
                "retries plus a Send API call must fit in one lease"
            )
        return self

    @model_validator(mode="after")
    def _echo_grace_outlasts_a_send(self) -> "Settings":
        # The grace counts from the start of an attempt (a crash leaves nothing later), and
        # Facebook may send the message at any moment of a call that ends in a timeout.
        grace = self.messenger_echo_grace_seconds
        if grace and grace < self.graph_api_timeout_seconds:
            raise ValueError(
                "MESSENGER_ECHO_GRACE_SECONDS must be 0 or at least GRAPH_API_TIMEOUT_SECONDS "
                f"({self.graph_api_timeout_seconds:g}): an echo can come as late as the answer"
            )
        return self

    @model_validator(mode="after")
    def _supabase_needs_key(self) -> "Settings":
        if self.supabase_url and not self.supabase_service_role_key.get_secret_value():
            raise ValueError(
                "SUPABASE_SERVICE_ROLE_KEY must be set when SUPABASE_URL is set"
            )
        return self

    def secret_values(self) -> list[str]:
        """The values of every secret setting that is set, and the passwords in URL settings
        (``redis://:password@host``), for log redaction."""
        found = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, (str, AnyHttpUrl)) and "@" in str(value):
                found.append(urlsplit(str(value)).password or "")
        return [value for value in found if value]

    @property
    def spool_file(self) -> Path:
        """Where the inbound spool lives (``SPOOL_PATH``, or next to the SQLite database)."""
        return self.spool_path or self.database_path.with_name("spool.db")

    @property
    def store_kind(self) -> str:
        return "supabase" if self.supabase_url else "sqlite"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper() or "settings"
        message = first["msg"]
        if name == "SETTINGS" or not first["loc"]:
            raise SettingsError(f"Invalid settings: {message}") from None
        raise SettingsError(f"Invalid setting {name}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
