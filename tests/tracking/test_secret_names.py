"""Which names count as secret (their values are masked everywhere) and which stay readable.

Rule (``workbench/tracking/_common.py``): case-insensitive; ``password``/``passwd``/``secret``/
``credential`` anywhere in the name; or a last word ``token``, ``key``, ``pwd`` (``*_TOKEN``,
``*_KEY``, ``apiKey``) or the words ``key id`` at the end (``AWS_ACCESS_KEY_ID``). Words split at
``_ - . /``, spaces, digits and camelCase; "key" or "token" inside another word does not count.
"""

from __future__ import annotations

import pytest

from workbench.tracking._common import flagged_secrets, is_secret, mask, mask_document, secret_values

STEMS = ["API", "github", "db", "aws", "signing", "Slack_Bot", "x"]


def _spellings(stem: str, suffix: str) -> list[str]:
    return [f"{stem}_{suffix}".upper(), f"{stem}_{suffix}".lower(), f"{stem}-{suffix}", f"{stem}{suffix.title()}"]


@pytest.mark.parametrize("suffix", ["TOKEN", "PASSWORD", "SECRET", "KEY"])
def test_the_four_suffixes_are_secret_in_any_case(suffix: str) -> None:
    names = [n for stem in STEMS for n in _spellings(stem, suffix)]
    assert [n for n in names if not is_secret(n)] == []
    assert mask({n: "v" for n in names}) == {n: "***" for n in names}


@pytest.mark.parametrize(
    "name",
    ["password", "PGPASSWORD", "db_passwd", "client_secret", "SECRET_ACCESS", "gcp_credentials", "token", "key",
     "apiKey", "OPENAI_API_KEY", "GITHUB_TOKEN2", "AWS_ACCESS_KEY_ID", "db_pwd", "ssh.passphrase"],
)  # fmt: skip
def test_secret_looking_names(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize(
    "name",
    ["monkey", "MONKEY", "turkey", "keyboard", "key_column", "keys", "num_keys", "max_tokens", "tokenizer",
     "n_tokens", "hotkey_mode", "lr", "batch_size", "sort_keys", "keyframe", "tokens_per_step"],
)  # fmt: skip
def test_harmless_names_stay_readable(name: str) -> None:
    assert not is_secret(name)
    assert mask({name: 3}) == {name: 3}


def test_marked_names_are_secret_whatever_they_look_like() -> None:
    assert is_secret("dsn", {"dsn"}) and not is_secret("dsn")
    assert secret_values({"dsn": "pg://u:p@db", "lr": 0.1, "API_TOKEN": "t0k"}, {"dsn"}) == ["pg://u:p@db", "t0k"]


def test_a_spec_document_is_masked_by_its_own_secret_marks() -> None:
    doc = {
        "parameters": [{"name": "dsn", "secret": True}, {"name": "lr"}],
        "steps": [
            {
                "component": {
                    "inputs": [{"name": "pin", "secret": True}],
                    "env": {"MONKEY": "banana", "AWS_SECRET": "s"},
                },
                "arguments": {"pin": "1234", "lr": 0.1},
                "env": [{"name": "SIGNING_KEY", "value": "sig"}],
            }
        ],
        "arguments": {"dsn": "pg://u:p@db"},
    }
    assert flagged_secrets(doc) == {"dsn", "pin"}
    shown = mask_document(doc)
    assert shown["arguments"] == {"dsn": "***"}
    step = shown["steps"][0]
    assert step["arguments"] == {"pin": "***", "lr": 0.1}
    assert step["component"]["env"] == {"MONKEY": "banana", "AWS_SECRET": "***"}
    assert step["env"] == [{"name": "SIGNING_KEY", "value": "***"}]
    assert shown["parameters"][0] == {"name": "dsn", "secret": True}  # the flag itself stays readable
