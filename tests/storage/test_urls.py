"""Storage strings: what they name, and printing them without their passwords."""

from __future__ import annotations

import pytest

from automl_fashion.errors import ConfigError
from automl_fashion.storage import classify, mask_url
from automl_fashion.storage._urls import scrub


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://me:s3cret@host/db", "postgresql://me:***@host/db"),
        ("postgresql://u@host/db?password=s3cret", "postgresql://u@host/db?password=***"),
        ("postgresql://:s3cret@host/db?user=u", "postgresql://:***@host/db?user=u"),
        ("mysql+pymysql://u@h/db?passwd=s3cret&charset=utf8", "charset=utf8"),
        ("postgresql://u@h/db?sslpassword=s3cret&pwd=s3cret&api_token=s3cret", "u@h/db"),
        ("postgresql://u:p@s3cret@host/db", "@host/db"),  # an unescaped @ in the password
        ("notaurl://u:s3cret@[broken/db?secret=s3cret", "notaurl://u:***@"),
        ("postgresql://u:s3cret@host/db.journal", "postgresql://u:***@host/db.journal"),
    ],
)
def test_mask_url_hides_every_password(url: str, masked: str) -> None:
    shown = mask_url(url)
    assert "s3cret" not in shown
    assert masked in shown


def test_plain_urls_and_paths_are_unchanged() -> None:
    for url in ("sqlite:///studies/x.db", "postgresql://u@host:5432/db", "journal:/a/b.journal"):
        assert mask_url(url) == url


def test_scrub_removes_secrets_from_a_driver_message() -> None:
    url = "postgresql://u:p%40ss@host/db?password=q%2Fw"
    message = f"connection to {url} failed: password 'p@ss' or 'q/w' rejected"
    cleaned = scrub(message, url)
    assert "p@ss" not in cleaned and "q/w" not in cleaned and "p%40ss" not in cleaned


@pytest.mark.parametrize(
    ("url", "kind", "target"),
    [
        ("postgresql://u:pw@host/db.journal", "rdb", "postgresql://u:pw@host/db.journal"),
        ("sqlite:///x.db", "rdb", "sqlite:///x.db"),
        ("journal:/tmp/x.journal", "journal", "/tmp/x.journal"),
        ("journal:///tmp/x.log", "journal", "/tmp/x.log"),
        ("runs/x.journal", "journal", "runs/x.journal"),
    ],
)
def test_classify(url: str, kind: str, target: str) -> None:
    assert classify(url) == (kind, target)


@pytest.mark.parametrize("url", ["nonsense", "journal:", "host:5432/db", "x.db", "user:pw@h/db"])
def test_other_forms_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="is not a storage URL"):
        classify(url)


def test_the_error_for_an_unknown_form_hides_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        classify("//u:s3cret@host/db?password=s3cret")
    assert "s3cret" not in str(info.value)
