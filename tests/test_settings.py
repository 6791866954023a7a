"""settings.load_settings: defaults, every validation rule, normalisation and secret hygiene."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import (
    DEFAULT_SLACK_API_URL,
    DEFAULT_TAVUS_API_URL,
    Settings,
    SettingsError,
    UploadPrompts,
    load_settings,
)

TOKEN = "xoxb-1234-secret-bot-token"
SECRET = "s3cr3t-signing-secret"
KEY = "tavus-key-0123456789"
REQUIRED = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "TAVUS_API_KEY": KEY}


def env(**overrides: str) -> dict[str, str]:
    return {**REQUIRED, **overrides}


def problems_for(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return caught.value.problems


def test_defaults() -> None:
    settings = load_settings(REQUIRED)

    assert settings.slack_bot_token == TOKEN
    assert settings.slack_signing_secret == SECRET
    assert settings.tavus_api_key == KEY
    assert settings.public_url is None
    assert settings.host == "0.0.0.0"
    assert settings.port == 3000
    assert settings.database_path == Path("replica-bot.db")
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL == "https://slack.com/api/"
    assert settings.tavus_api_url == DEFAULT_TAVUS_API_URL == "https://tavusapi.com"
    assert settings.log_level == "INFO"
    assert settings.log_level_number == 20


def test_explicit_values_are_used() -> None:
    settings = load_settings(
        env(
            PUBLIC_URL="https://bot.example.com",
            HOST="127.0.0.1",
            PORT="8080",
            DATABASE_PATH="/var/lib/bot/state.db",
            SLACK_API_URL="http://127.0.0.1:9000/api/",
            TAVUS_API_URL="http://127.0.0.1:9001",
            LOG_LEVEL="debug",
        )
    )

    assert settings.public_url == "https://bot.example.com"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.database_path == Path("/var/lib/bot/state.db")
    assert settings.slack_api_url == "http://127.0.0.1:9000/api/"
    assert settings.tavus_api_url == "http://127.0.0.1:9001"
    assert settings.log_level == "DEBUG"
    assert settings.log_level_number == 10


def test_values_are_stripped_and_blank_means_unset() -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": f"  {TOKEN}\n",
            "SLACK_SIGNING_SECRET": f" {SECRET} ",
            "TAVUS_API_KEY": f"\t{KEY}",
            "PUBLIC_URL": "   ",
            "PORT": " 4000 ",
            "HOST": "",
        }
    )

    assert (settings.slack_bot_token, settings.slack_signing_secret, settings.tavus_api_key) == (
        TOKEN,
        SECRET,
        KEY,
    )
    assert settings.public_url is None
    assert settings.port == 4000
    assert settings.host == "0.0.0.0"


def test_every_missing_required_variable_is_reported_one_line_each() -> None:
    problems = problems_for({})

    assert len(problems) == 3
    for name, line in zip(
        ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TAVUS_API_KEY"), problems, strict=True
    ):
        assert name in line
        assert "\n" not in line


def test_settings_error_message_has_one_line_per_problem() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"PORT": "nope"})

    assert str(caught.value).splitlines() == caught.value.problems
    assert len(caught.value.problems) == 4  # three missing variables and the port


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_one_missing_variable_is_the_only_problem(missing: str) -> None:
    environ = {name: value for name, value in REQUIRED.items() if name != missing}

    problems = problems_for(environ)

    assert len(problems) == 1
    assert missing in problems[0]


def test_blank_required_variable_counts_as_missing() -> None:
    problems = problems_for(env(TAVUS_API_KEY="   "))

    assert len(problems) == 1
    assert "TAVUS_API_KEY" in problems[0]


@pytest.mark.parametrize("token", ["xoxp-user-token", "xapp-1-app-token", "bot-token", "XOXB-1"])
def test_non_bot_token_is_rejected(token: str) -> None:
    problems = problems_for(env(SLACK_BOT_TOKEN=token))

    assert len(problems) == 1
    assert "SLACK_BOT_TOKEN" in problems[0]
    assert "xoxb-" in problems[0]
    assert token not in problems[0]  # the bad value is a secret: do not echo it


@pytest.mark.parametrize("port", ["abc", "3000.5", "-1", "65536", "99999", "80 80"])
def test_malformed_port(port: str) -> None:
    problems = problems_for(env(PORT=port))

    assert len(problems) == 1
    assert "PORT" in problems[0]
    assert repr(port) in problems[0]


@pytest.mark.parametrize(("port", "expected"), [("0", 0), ("1", 1), ("65535", 65535)])
def test_port_bounds(port: str, expected: int) -> None:
    assert load_settings(env(PORT=port)).port == expected


@pytest.mark.parametrize(
    "variable", ["PUBLIC_URL", "SLACK_API_URL", "TAVUS_API_URL"], ids=str.lower
)
@pytest.mark.parametrize(
    "bad_url",
    ["bot.example.com", "ftp://bot.example.com", "https://", "not a url", "/relative/path"],
)
def test_malformed_urls(variable: str, bad_url: str) -> None:
    problems = problems_for(env(**{variable: bad_url}))

    assert len(problems) == 1
    assert problems[0].startswith(f"{variable} ")
    assert "http" in problems[0]


def test_malformed_bracketed_public_url_is_a_settings_error() -> None:
    problems = problems_for(env(PUBLIC_URL="http://[bot.example.com"))

    assert len(problems) == 1
    assert "PUBLIC_URL" in problems[0]


@pytest.mark.parametrize("level", ["VERBOSE", "trace", "20", "warn"])
def test_malformed_log_level(level: str) -> None:
    problems = problems_for(env(LOG_LEVEL=level))

    assert len(problems) == 1
    assert "LOG_LEVEL" in problems[0]


@pytest.mark.parametrize("level", ["debug", "Info", "WARNING", "error", "critical"])
def test_log_level_is_case_insensitive(level: str) -> None:
    assert load_settings(env(LOG_LEVEL=level)).log_level == level.upper()


def test_all_problems_are_reported_together() -> None:
    problems = problems_for(
        {
            "SLACK_BOT_TOKEN": "xoxp-wrong",
            "PORT": "x",
            "PUBLIC_URL": "nope",
            "SLACK_API_URL": "nope",
            "TAVUS_API_URL": "nope",
            "LOG_LEVEL": "loud",
        }
    )

    joined = "\n".join(problems)
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "TAVUS_API_KEY",
        "PORT",
        "PUBLIC_URL",
        "SLACK_API_URL",
        "TAVUS_API_URL",
        "LOG_LEVEL",
    ):
        assert any(line.startswith(name) for line in problems), (name, joined)
    assert len(problems) == 8


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://slack.example/api", "https://slack.example/api/"),
        ("https://slack.example/api/", "https://slack.example/api/"),
        ("https://slack.example/api///", "https://slack.example/api/"),
        ("http://127.0.0.1:8888", "http://127.0.0.1:8888/"),
    ],
)
def test_slack_api_url_gains_exactly_one_trailing_slash(given: str, expected: str) -> None:
    assert load_settings(env(SLACK_API_URL=given)).slack_api_url == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://tavus.example", "https://tavus.example"),
        ("https://tavus.example/", "https://tavus.example"),
        ("https://tavus.example//", "https://tavus.example"),
    ],
)
def test_tavus_api_url_loses_trailing_slashes(given: str, expected: str) -> None:
    assert load_settings(env(TAVUS_API_URL=given)).tavus_api_url == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://bot.example.com/", "https://bot.example.com"),
        ("https://bot.example.com/prefix//", "https://bot.example.com/prefix"),
    ],
)
def test_public_url_loses_trailing_slashes(given: str, expected: str) -> None:
    assert load_settings(env(PUBLIC_URL=given)).public_url == expected


def test_repr_never_contains_secrets() -> None:
    settings = load_settings(env(PUBLIC_URL="https://bot.example.com"))

    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert TOKEN not in text
        assert SECRET not in text
        assert KEY not in text
    assert "https://bot.example.com" in repr(settings)


def test_repr_of_directly_built_settings_hides_secrets() -> None:
    settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, tavus_api_key=KEY)

    assert not {TOKEN, SECRET, KEY} & set(repr(settings).replace("'", " ").split())
    assert all(secret not in repr(settings) for secret in (TOKEN, SECRET, KEY))


def test_callback_url_uses_public_url() -> None:
    settings = load_settings(env(PUBLIC_URL="https://bot.example.com/"))

    assert settings.callback_url("tok123") == "https://bot.example.com/tavus/callback/tok123"


def test_callback_url_is_none_without_public_url() -> None:
    assert load_settings(REQUIRED).callback_url("tok123") is None


APP_TOKEN = "xapp-1-A1-5678-secret-app-token"


def test_http_mode_by_default() -> None:
    settings = load_settings(REQUIRED)

    assert settings.slack_app_token is None
    assert settings.socket_mode is False


def test_app_token_means_socket_mode_and_no_signing_secret_is_needed() -> None:
    environ = {name: value for name, value in REQUIRED.items() if name != "SLACK_SIGNING_SECRET"}

    settings = load_settings({**environ, "SLACK_APP_TOKEN": f" {APP_TOKEN} "})

    assert settings.socket_mode is True
    assert settings.slack_app_token == APP_TOKEN
    assert settings.slack_signing_secret is None


def test_signing_secret_is_kept_when_both_are_set() -> None:
    settings = load_settings(env(SLACK_APP_TOKEN=APP_TOKEN))

    assert settings.socket_mode is True
    assert settings.slack_signing_secret == SECRET


def test_blank_app_token_means_http_mode() -> None:
    assert load_settings(env(SLACK_APP_TOKEN="  ")).socket_mode is False


def test_missing_signing_secret_names_socket_mode_as_the_alternative() -> None:
    [problem] = problems_for({"SLACK_BOT_TOKEN": TOKEN, "TAVUS_API_KEY": KEY})

    assert problem.startswith("SLACK_SIGNING_SECRET is not set")
    assert "SLACK_APP_TOKEN" in problem
    assert "\n" not in problem


@pytest.mark.parametrize("token", [TOKEN, "xoxp-user-token", "app-token", "XAPP-1-x"])
def test_non_app_token_is_rejected(token: str) -> None:
    problems = problems_for(
        {"SLACK_BOT_TOKEN": TOKEN, "TAVUS_API_KEY": KEY, "SLACK_APP_TOKEN": token}
    )

    # One problem: with an app token meant, the missing signing secret is not one.
    assert len(problems) == 1
    assert problems[0].startswith("SLACK_APP_TOKEN ")
    assert "xapp-" in problems[0]
    assert token not in problems[0]


def test_repr_hides_the_app_token_and_shows_the_mode() -> None:
    settings = load_settings(env(SLACK_APP_TOKEN=APP_TOKEN))

    assert APP_TOKEN not in repr(settings)
    assert "socket_mode=True" in repr(settings)


def test_media_dir_defaults_next_to_the_database() -> None:
    assert load_settings(env(DATABASE_PATH="/data/bot.db")).media_dir == Path("/data/media")
    assert load_settings(REQUIRED).media_dir == Path("media")
    assert load_settings(env(MEDIA_DIR="/srv/media")).media_dir == Path("/srv/media")


def test_polling_and_tavus_timeout() -> None:
    settings = load_settings(REQUIRED)
    assert (settings.poll_interval_seconds, settings.tavus_timeout_seconds) == (300.0, 30.0)
    settings = load_settings(env(POLL_INTERVAL_SECONDS="60", TAVUS_TIMEOUT_SECONDS="2.5"))
    assert (settings.poll_interval_seconds, settings.tavus_timeout_seconds) == (60.0, 2.5)


@pytest.mark.parametrize("value", ["soon", "0", "-5", "100000"])
def test_bad_poll_interval_is_one_line(value: str) -> None:
    assert problems_for(env(POLL_INTERVAL_SECONDS=value)) == [
        "POLL_INTERVAL_SECONDS must be a number of seconds from 1 to 86400"
    ]


# -- who may do what ---------------------------------------------------------------------------


def test_by_default_everyone_may_create_without_limit() -> None:
    settings = load_settings(REQUIRED)

    assert settings.replica_creators is None
    assert settings.replica_admins == ()
    assert settings.replica_monthly_limit is None


def test_creators_admins_and_the_monthly_limit() -> None:
    settings = load_settings(
        env(
            REPLICA_CREATORS=" U012AB3CD, S0614TZR7  W0ABCDEF,U012AB3CD ",
            REPLICA_ADMINS="UADMIN1 UADMIN2",
            REPLICA_MONTHLY_LIMIT=" 5 ",
        )
    )

    # In order, once each: user ids, Enterprise Grid user ids and user groups alike.
    assert settings.replica_creators == ("U012AB3CD", "S0614TZR7", "W0ABCDEF")
    assert settings.replica_admins == ("UADMIN1", "UADMIN2")
    assert settings.replica_monthly_limit == 5


def test_blank_access_settings_mean_unset() -> None:
    settings = load_settings(
        env(REPLICA_CREATORS="  ", REPLICA_ADMINS="", REPLICA_MONTHLY_LIMIT=" ")
    )

    assert settings.replica_creators is None
    assert settings.replica_admins == ()
    assert settings.replica_monthly_limit is None


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("REPLICA_CREATORS", "U012AB3CD, @jane, jane@example.com", "'@jane', 'jane@example.com'"),
        ("REPLICA_CREATORS", "u012ab3cd", "'u012ab3cd'"),  # Slack ids are upper case
        ("REPLICA_CREATORS", "<@U012AB3CD>", "'<@U012AB3CD>'"),
        ("REPLICA_CREATORS", "C0123CHAN", "'C0123CHAN'"),  # a channel is not a group
        ("REPLICA_ADMINS", "UADMIN1, S0614TZR7", "'S0614TZR7'"),  # admins are people
        ("REPLICA_ADMINS", "U1;U2", "'U1;U2'"),
    ],
)
def test_a_bad_id_is_named_in_one_line(variable: str, value: str, named: str) -> None:
    [problem] = problems_for(env(**{variable: value}))

    assert problem.startswith(f"{variable} must list Slack user ids")
    assert problem.endswith(f"these are not: {named}")
    assert ("user group ids" in problem) is (variable == "REPLICA_CREATORS")


@pytest.mark.parametrize("variable", ["REPLICA_CREATORS", "REPLICA_ADMINS"])
def test_a_list_of_nothing_is_not_guessed_to_mean_everyone_or_nobody(variable: str) -> None:
    assert problems_for(env(**{variable: " , ,"})) == [
        f"{variable} lists no ids: give some, or leave it unset"
    ]


@pytest.mark.parametrize("value", ["0", "000", "-1", "2.5", "five", "1_000", "+3", "٣", "9" * 19])
def test_a_bad_monthly_limit_is_one_line(value: str) -> None:
    [problem] = problems_for(env(REPLICA_MONTHLY_LIMIT=value))

    assert problem.startswith("REPLICA_MONTHLY_LIMIT must be a whole number of replicas")
    assert repr(value) in problem


def test_a_huge_monthly_limit_is_refused_without_echoing_all_of_it() -> None:
    [problem] = problems_for(env(REPLICA_MONTHLY_LIMIT="1" * 5000))

    assert problem.startswith("REPLICA_MONTHLY_LIMIT ") and len(problem) < 200


def test_every_bad_access_setting_is_reported_with_the_others() -> None:
    problems = problems_for(
        env(REPLICA_CREATORS="@jane", REPLICA_ADMINS="S1", REPLICA_MONTHLY_LIMIT="0", PORT="x")
    )

    assert [line.split()[0] for line in problems] == [
        "PORT",
        "REPLICA_CREATORS",
        "REPLICA_ADMINS",
        "REPLICA_MONTHLY_LIMIT",
    ]


def test_repr_shows_who_may_do_what() -> None:
    settings = load_settings(
        env(REPLICA_CREATORS="U1AB S2CD", REPLICA_ADMINS="U3EF", REPLICA_MONTHLY_LIMIT="4")
    )

    text = repr(settings)
    assert "replica_creators=('U1AB', 'S2CD')" in text
    assert "replica_admins=('U3EF',)" in text
    assert "replica_monthly_limit=4" in text
    assert all(secret not in text for secret in (TOKEN, SECRET, KEY))


def test_consent_timeout_days_defaults_to_a_week_and_takes_whole_days() -> None:
    assert load_settings(env()).consent_timeout_days == 7
    assert load_settings(env(CONSENT_TIMEOUT_DAYS=" 30 ")).consent_timeout_days == 30


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "a week", "1000", "٣"])
def test_a_bad_consent_timeout_is_one_line(value: str) -> None:
    [problem] = problems_for(env(CONSENT_TIMEOUT_DAYS=value))

    assert problem.startswith("CONSENT_TIMEOUT_DAYS must be a whole number of days, 1 or more")
    assert repr(value) in problem


# -- retention -----------------------------------------------------------------------------------


def test_retention_days_defaults_to_ninety_and_takes_whole_days_up_to_ten_years() -> None:
    assert load_settings(env()).retention_days == 90
    assert load_settings(env(RETENTION_DAYS=" 30 ")).retention_days == 30
    assert load_settings(env(RETENTION_DAYS="1")).retention_days == 1
    assert load_settings(env(RETENTION_DAYS="3650")).retention_days == 3650
    assert "retention_days=30" in repr(load_settings(env(RETENTION_DAYS="30")))


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "a year", "٣", "90d"])
def test_a_retention_that_is_not_whole_days_is_one_line(value: str) -> None:
    [problem] = problems_for(env(RETENTION_DAYS=value))

    assert problem.startswith("RETENTION_DAYS must be a whole number of days, 1 or more")
    assert repr(value) in problem


@pytest.mark.parametrize("value", ["3651", "10000", "0003651"])
def test_a_retention_over_ten_years_is_one_line(value: str) -> None:
    [problem] = problems_for(env(RETENTION_DAYS=value))

    assert problem.startswith("RETENTION_DAYS must be at most 3650 days")
    assert repr(value) in problem


# -- upload prompts ------------------------------------------------------------------------------


def test_upload_prompts_default_to_everywhere() -> None:
    assert load_settings(REQUIRED).upload_prompts is UploadPrompts.ALL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("all", UploadPrompts.ALL),
        (" dm ", UploadPrompts.DM),
        ("OFF", UploadPrompts.OFF),
        ("Dm", UploadPrompts.DM),
        ("  ", UploadPrompts.ALL),
    ],
)
def test_upload_prompts(given: str, expected: UploadPrompts) -> None:
    assert load_settings(env(UPLOAD_PROMPTS=given)).upload_prompts is expected


@pytest.mark.parametrize("value", ["none", "channels", "yes", "0", "dms"])
def test_a_bad_upload_prompts_value_is_one_line_naming_the_choices(value: str) -> None:
    assert problems_for(env(UPLOAD_PROMPTS=value)) == [
        f"UPLOAD_PROMPTS must be one of all, dm, off, got {value!r}"
    ]


def test_a_bad_upload_prompts_value_is_reported_with_the_others() -> None:
    problems = problems_for(env(UPLOAD_PROMPTS="some", LOG_LEVEL="loud"))

    assert [line.split()[0] for line in problems] == ["LOG_LEVEL", "UPLOAD_PROMPTS"]


def test_repr_shows_where_uploads_are_prompted() -> None:
    assert "upload_prompts='dm'" in repr(load_settings(env(UPLOAD_PROMPTS="dm")))


def test_a_dry_run_needs_no_tavus_key() -> None:
    environment = {k: v for k, v in env().items() if k != "TAVUS_API_KEY"}
    assert "TAVUS_API_KEY" in problems_for(environment)[0]
    settings = load_settings({**environment, "TAVUS_DRY_RUN": "True"})
    assert settings.tavus_dry_run and settings.tavus_api_key == ""
    assert settings.dry_run_training_seconds == 120.0
    assert load_settings(env(TAVUS_DRY_RUN="no")).tavus_dry_run is False


def test_a_bad_dry_run_switch_is_one_line() -> None:
    [problem] = problems_for(env(TAVUS_DRY_RUN="maybe"))
    assert problem == "TAVUS_DRY_RUN must be true or false, got 'maybe'"


def test_log_format_and_media_store_take_their_words_in_any_case() -> None:
    settings = load_settings(
        env(LOG_FORMAT="JSON", MEDIA_STORE="S3", MEDIA_S3_BUCKET="clips", MEDIA_S3_PREFIX="/a/b/")
    )
    assert (settings.log_format, settings.media_store) == ("json", "s3")
    assert (settings.media_s3_bucket, settings.media_s3_prefix) == ("clips", "a/b/")
    assert settings.can_relay_files  # a presigned link needs no PUBLIC_URL
    local = load_settings(env(PUBLIC_URL=""))
    assert (local.log_format, local.media_store, local.can_relay_files) == ("text", "local", False)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of text, json, got 'xml'"),
        ({"MEDIA_STORE": "ftp"}, "MEDIA_STORE must be one of local, s3, got 'ftp'"),
        ({"MEDIA_STORE": "s3"}, "MEDIA_S3_BUCKET is not set: the bucket to copy shared files to"),
        (
            {"MEDIA_STORE": "s3", "MEDIA_S3_BUCKET": "b", "MEDIA_S3_ENDPOINT_URL": "minio:9000"},
            "MEDIA_S3_ENDPOINT_URL must be an absolute http(s) URL, got 'minio:9000'",
        ),
    ],
)
def test_bad_operations_settings_are_one_line_each(changes: dict[str, str], problem: str) -> None:
    assert problems_for(env(**changes)) == [problem]
