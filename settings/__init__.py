"""The bot's configuration: one typed object, built once from the environment."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_TAVUS_API_URL = "https://tavusapi.com"
# Where Tavus reports training results; the last path segment is the per-request secret.
TAVUS_CALLBACK_PATH = "/tavus/callback/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_RETENTION_DAYS = 3650  # RETENTION_DAYS: ten years at most
# Slack ids as Slack writes them: users U… (W… on Enterprise Grid), user groups S….
USER_ID = re.compile(r"[UW][A-Z0-9]+")
USER_GROUP_ID = re.compile(r"S[A-Z0-9]+")


class UploadPrompts(StrEnum):
    """Where someone who shares a video or photo is offered a replica (UPLOAD_PROMPTS)."""

    ALL = "all"  # every channel the bot is in, and DMs with it
    DM = "dm"  # only uploads in a DM with the bot
    OFF = "off"  # never: the "Create replica" shortcut and /replica still work


class LogFormat(StrEnum):
    """How log lines are written (LOG_FORMAT)."""

    TEXT = "text"  # one readable line per record
    JSON = "json"  # one JSON object per line, for log collectors


class MediaStore(StrEnum):
    """Where shared files are copied for Tavus to download (MEDIA_STORE)."""

    LOCAL = "local"  # MEDIA_DIR, served by the bot at PUBLIC_URL/media/…
    S3 = "s3"  # an S3-compatible bucket; Tavus gets a presigned link (no PUBLIC_URL needed)


TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host. (Settings import nothing of the bot's own, so this
    is not the form's link check, though it agrees with it.)"""
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value
    except ValueError:  # e.g. "http://[oops": an unclosed IPv6 bracket
        return False


class SettingsError(Exception):
    """Raised with every configuration problem found, one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    # Verifies HTTP requests from Slack; unused (and optional) in Socket Mode.
    slack_signing_secret: str | None
    tavus_api_key: str
    public_url: str | None = None
    # App-level token (xapp-…): when set, Slack is reached by Socket Mode instead of HTTP.
    slack_app_token: str | None = None
    host: str = "0.0.0.0"
    port: int = 3000
    database_path: Path = Path("replica-bot.db")
    slack_api_url: str = DEFAULT_SLACK_API_URL
    tavus_api_url: str = DEFAULT_TAVUS_API_URL
    log_level: str = "INFO"
    # Relayed Slack uploads, served to Tavus under PUBLIC_URL/media/.
    media_dir: Path = Path("media")
    # How often open requests are checked with Tavus (a lost callback is found this way).
    poll_interval_seconds: float = 300.0
    tavus_timeout_seconds: float = 30.0
    # Who may create replicas: user ids (U…/W…) and user group ids (S…); None: everyone.
    replica_creators: tuple[str, ...] | None = None
    # User ids who may see and delete every replica and export; they may always create.
    replica_admins: tuple[str, ...] = ()
    # Creates per requester per calendar month (UTC); None: no limit.
    replica_monthly_limit: int | None = None
    # Days a request waits for its subject's (or file owner's) approval before it expires.
    consent_timeout_days: int = 7
    # Days delivered Slack messages (outbox rows) and the callback audit are kept.
    retention_days: int = 90
    # A status message shows new training progress at most this often.
    progress_update_seconds: float = 300.0
    # Where an upload gets the prompt offering a replica.
    upload_prompts: UploadPrompts = UploadPrompts.ALL
    # A simulated Tavus inside the process: no key needed, nothing sent, nothing charged.
    tavus_dry_run: bool = False
    dry_run_training_seconds: float = 120.0  # a simulated training's length
    log_format: LogFormat = LogFormat.TEXT
    media_store: MediaStore = MediaStore.LOCAL
    media_s3_bucket: str | None = None
    media_s3_endpoint_url: str | None = None  # R2, MinIO…; None: AWS
    media_s3_prefix: str = "replica-bot/"

    def __repr__(self) -> str:
        # Never let a token or key reach a log line through repr().
        return (
            f"Settings(socket_mode={self.socket_mode}, public_url={self.public_url!r}, "
            f"host={self.host!r}, port={self.port}, "
            f"database_path={str(self.database_path)!r}, slack_api_url={self.slack_api_url!r}, "
            f"tavus_api_url={self.tavus_api_url!r}, log_level={self.log_level!r}, "
            f"media_dir={str(self.media_dir)!r}, "
            f"poll_interval_seconds={self.poll_interval_seconds}, "
            f"tavus_timeout_seconds={self.tavus_timeout_seconds}, "
            # Slack ids are not secrets, and an operator checking the config wants to see them.
            f"replica_creators={self.replica_creators!r}, "
            f"replica_admins={self.replica_admins!r}, "
            f"replica_monthly_limit={self.replica_monthly_limit}, "
            f"consent_timeout_days={self.consent_timeout_days}, "
            f"retention_days={self.retention_days}, "
            f"progress_update_seconds={self.progress_update_seconds}, "
            f"upload_prompts={str(self.upload_prompts)!r}, "
            f"tavus_dry_run={self.tavus_dry_run}, "
            f"dry_run_training_seconds={self.dry_run_training_seconds}, "
            f"log_format={str(self.log_format)!r}, media_store={str(self.media_store)!r}, "
            f"media_s3_bucket={self.media_s3_bucket!r}, "
            f"media_s3_endpoint_url={self.media_s3_endpoint_url!r}, "
            f"media_s3_prefix={self.media_s3_prefix!r})"
        )

    @property
    def socket_mode(self) -> bool:
        """True when Slack is reached over a Socket Mode WebSocket rather than by HTTP."""
        return self.slack_app_token is not None

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    @property
    def can_relay_files(self) -> bool:
        """Whether files shared in Slack can train replicas: Tavus can download the bot's
        copy from PUBLIC_URL, or from a presigned link into the S3 bucket."""
        return self.public_url is not None or self.media_store is MediaStore.S3

    def callback_url(self, token: str) -> str | None:
        """Where Tavus should report a training result, or None without a public URL."""
        if self.public_url is None:
            return None
        return f"{self.public_url}{TAVUS_CALLBACK_PATH}{token}"


def database_path(environ: Mapping[str, str]) -> Path:
    """DATABASE_PATH, or its default. On its own because `bot.py export-audit` needs only the
    database: an operator exporting need not hold the Slack and Tavus credentials."""
    return Path(environ.get("DATABASE_PATH", "").strip() or "replica-bot.db")


Choice = TypeVar("Choice", bound=StrEnum)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables, or raise SettingsError listing every problem."""
    problems: list[str] = []

    def value(name: str) -> str:
        return environ.get(name, "").strip()

    def required(name: str, hint: str) -> str:
        found = value(name)
        if not found:
            problems.append(f"{name} is not set: {hint}")
        return found

    bot_token = required("SLACK_BOT_TOKEN", "the bot token (xoxb-...) from OAuth & Permissions")
    if bot_token and not bot_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    app_token = value("SLACK_APP_TOKEN") or None
    if app_token is not None and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    # Socket Mode requests arrive over an authenticated WebSocket, so nothing is signed.
    signing_secret = value("SLACK_SIGNING_SECRET") or None
    if signing_secret is None and app_token is None:
        problems.append(
            "SLACK_SIGNING_SECRET is not set: the Signing Secret from the Slack app's Basic "
            "Information page (or set SLACK_APP_TOKEN to use Socket Mode)"
        )
    dry_run = False
    raw_dry_run = value("TAVUS_DRY_RUN").lower()
    if raw_dry_run in TRUE_WORDS:
        dry_run = True
    elif raw_dry_run and raw_dry_run not in FALSE_WORDS:
        problems.append(f"TAVUS_DRY_RUN must be true or false, got {raw_dry_run[:40]!r}")
    # A dry run simulates Tavus inside the process: it needs no key.
    tavus_key = value("TAVUS_API_KEY")
    if not dry_run:
        tavus_key = required(
            "TAVUS_API_KEY",
            "an API key from the Tavus Developer Portal (or TAVUS_DRY_RUN=true to try the bot "
            "without Tavus)",
        )

    public_url: str | None = value("PUBLIC_URL").rstrip("/") or None
    if public_url is not None and not is_http_url(public_url):
        problems.append(f"PUBLIC_URL must be an absolute http(s) URL, got {public_url!r}")

    port = 3000
    if value("PORT"):
        try:
            port = int(value("PORT"))
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            problems.append(f"PORT must be a whole number from 0 to 65535, got {value('PORT')!r}")

    slack_api_url = value("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not is_http_url(slack_api_url):
        problems.append(f"SLACK_API_URL must be an absolute http(s) URL, got {slack_api_url!r}")
    # slack_sdk joins method names with urljoin, which drops the last segment without a slash.
    slack_api_url = slack_api_url.rstrip("/") + "/"

    tavus_api_url = (value("TAVUS_API_URL") or DEFAULT_TAVUS_API_URL).rstrip("/")
    if not is_http_url(tavus_api_url):
        problems.append(f"TAVUS_API_URL must be an absolute http(s) URL, got {tavus_api_url!r}")

    def seconds(name: str, default: float, minimum: float) -> float:
        raw = value(name)
        if not raw:
            return default
        try:
            found = float(raw)
        except ValueError:
            found = -1.0
        if not minimum <= found <= 86400:
            problems.append(f"{name} must be a number of seconds from {minimum:g} to 86400")
        return found

    poll_interval = seconds("POLL_INTERVAL_SECONDS", 300.0, 1.0)
    tavus_timeout = seconds("TAVUS_TIMEOUT_SECONDS", 30.0, 0.1)
    progress_update = seconds("PROGRESS_UPDATE_SECONDS", 300.0, 1.0)
    dry_run_training = seconds("DRY_RUN_TRAINING_SECONDS", 120.0, 1.0)

    def slack_ids(name: str, *, groups: bool) -> tuple[str, ...]:
        """The ids in `name`, separated by commas or spaces, in order and once each."""
        found = [part for part in re.split(r"[\s,]+", value(name)) if part]
        allowed = (USER_ID, USER_GROUP_ID) if groups else (USER_ID,)
        bad = [part for part in found if not any(kind.fullmatch(part) for kind in allowed)]
        kinds = "user ids (U... or W...)" + (" and user group ids (S...)" if groups else "")
        if bad:
            listed = ", ".join(repr(part) for part in bad)
            problems.append(
                f"{name} must list Slack {kinds}, separated by commas or spaces; "
                f"these are not: {listed}"
            )
        elif value(name) and not found:
            # Only commas: "nobody" or "everyone"? Neither is guessed.
            problems.append(f"{name} lists no ids: give some, or leave it unset")
        return tuple(dict.fromkeys(found))

    creators = slack_ids("REPLICA_CREATORS", groups=True) or None
    admins = slack_ids("REPLICA_ADMINS", groups=False)

    def whole_number(name: str, what: str, maximum_digits: int) -> int | None:
        """A positive whole number; None if unset. ASCII digits only: int() would also take
        "1_000", "+5" and other scripts' digits; and at most `maximum_digits` of them."""
        raw = value(name)
        if not raw:
            return None
        if raw.isascii() and raw.isdigit() and 0 < len(raw.lstrip("0")) <= maximum_digits:
            return int(raw)
        problems.append(f"{name} must be a whole number of {what}, 1 or more, got {raw[:40]!r}")
        return None

    # No month holds 10**18 creates (and past 4,300 digits int() itself refuses).
    monthly_limit = whole_number(
        "REPLICA_MONTHLY_LIMIT", "replicas per person per month", maximum_digits=18
    )
    # Up to 999 days: a timedelta of more would overflow.
    consent_days = whole_number("CONSENT_TIMEOUT_DAYS", "days", maximum_digits=3) or 7
    # Up to ten years. More digits are read (and refused) so the message can say the bound.
    retention_days = whole_number("RETENTION_DAYS", "days", maximum_digits=18) or 90
    if retention_days > MAX_RETENTION_DAYS:
        problems.append(
            f"RETENTION_DAYS must be at most {MAX_RETENTION_DAYS} days (ten years), "
            f"got {value('RETENTION_DAYS')[:40]!r}"
        )

    log_level = (value("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    def choice(name: str, kind: type[Choice], default: Choice) -> Choice:
        """One of `kind`'s values (any case); `default` when unset."""
        raw = value(name).lower()
        if not raw:
            return default
        if raw in kind.__members__.values():
            return kind(raw)
        allowed = ", ".join(member.value for member in kind)
        problems.append(f"{name} must be one of {allowed}, got {value(name)[:40]!r}")
        return default

    upload_prompts = choice("UPLOAD_PROMPTS", UploadPrompts, UploadPrompts.ALL)
    log_format = choice("LOG_FORMAT", LogFormat, LogFormat.TEXT)
    media_store = choice("MEDIA_STORE", MediaStore, MediaStore.LOCAL)
    s3_bucket = value("MEDIA_S3_BUCKET") or None
    s3_endpoint = value("MEDIA_S3_ENDPOINT_URL").rstrip("/") or None
    s3_prefix = value("MEDIA_S3_PREFIX").strip("/")
    s3_prefix = f"{s3_prefix}/" if s3_prefix else "replica-bot/"
    if media_store is MediaStore.S3 and s3_bucket is None:
        problems.append("MEDIA_S3_BUCKET is not set: the bucket to copy shared files to")
    if s3_endpoint is not None and not is_http_url(s3_endpoint):
        problems.append(
            f"MEDIA_S3_ENDPOINT_URL must be an absolute http(s) URL, got {s3_endpoint!r}"
        )

    if problems:
        raise SettingsError(problems)
    database = database_path(environ)
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        tavus_api_key=tavus_key,
        public_url=public_url,
        slack_app_token=app_token,
        host=value("HOST") or "0.0.0.0",
        port=port,
        database_path=database,
        slack_api_url=slack_api_url,
        tavus_api_url=tavus_api_url,
        log_level=log_level,
        media_dir=Path(value("MEDIA_DIR") or database.parent / "media"),
        poll_interval_seconds=poll_interval,
        tavus_timeout_seconds=tavus_timeout,
        replica_creators=creators,
        replica_admins=admins,
        replica_monthly_limit=monthly_limit,
        consent_timeout_days=consent_days,
        retention_days=retention_days,
        progress_update_seconds=progress_update,
        upload_prompts=upload_prompts,
        tavus_dry_run=dry_run,
        dry_run_training_seconds=dry_run_training,
        log_format=log_format,
        media_store=media_store,
        media_s3_bucket=s3_bucket,
        media_s3_endpoint_url=s3_endpoint,
        media_s3_prefix=s3_prefix,
    )
