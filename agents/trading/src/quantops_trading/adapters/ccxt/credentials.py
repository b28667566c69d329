"""Exchange API credentials from the environment or a mounted Secret, never printed.

Why it exists: in production the keys live in a Kubernetes Secret the chart never creates; the
operator injects its ``apiKey``/``secret`` entries into trader pods as environment variables
(``secretKeyRef``), or the Secret is mounted as a directory of files. The ccxt client factory
reads them here, so no caller passes raw keys around and a live venue without keys fails at
construction with an error naming the missing key. The repr/str show only a short fingerprint of
the API key and never the secret, so a logged object leaks nothing.

:func:`redact` is the one redaction of text that may carry keys: ccxt's error strings include the
signed request's URL (``...&signature=<hmac>``), and a loaded key or secret is remembered here so
that its value is masked wherever it would appear. The library's error translation and the event
line writers pass their text through it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from quantops_trading.execution.errors import ConfigurationError

__all__ = [
    "API_KEY_ENV",
    "CREDENTIALS_DIR_ENV",
    "SECRET_ENV",
    "SECRET_KEYS",
    "ExchangeCredentials",
    "MissingCredentials",
    "load_credentials",
    "redact",
]

# Keep in sync with quantops_operator.resources.deployments (the operator may not import this
# library; tests/cluster/test_exchange_secret.py checks both sides agree).
API_KEY_ENV = "QUANTOPS_EXCHANGE_API_KEY"
SECRET_ENV = "QUANTOPS_EXCHANGE_API_SECRET"
CREDENTIALS_DIR_ENV = "QUANTOPS_EXCHANGE_CREDENTIALS_DIR"
# Secret data key -> environment variable (the Secret's keys, as in helm/quantops/README.md).
SECRET_KEYS: dict[str, str] = {"apiKey": API_KEY_ENV, "secret": SECRET_ENV}


class MissingCredentials(ConfigurationError):
    """A live venue needs a key that neither the arguments, the environment nor the files hold."""


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8] if value else "-"


@dataclass(frozen=True)
class ExchangeCredentials:
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    source: str = "none"

    def __repr__(self) -> str:
        return (
            f"ExchangeCredentials(api_key=sha256:{_fingerprint(self.api_key)}, "
            f"secret={'<redacted>' if self.secret else '-'}, source={self.source})"
        )

    __str__ = __repr__

    def missing(self) -> list[str]:
        """The Secret keys (``apiKey``, ``secret``) that are empty."""
        return [k for k, v in (("apiKey", self.api_key), ("secret", self.secret)) if not v]

    def require(self, venue: str) -> ExchangeCredentials:
        """Self, or :class:`MissingCredentials` naming each missing key and where it was looked for."""
        missing = self.missing()
        if missing:
            where = "; ".join(
                f"{k}: ${SECRET_KEYS[k]} or ${CREDENTIALS_DIR_ENV}/{k} (Secret key {k!r})" for k in missing
            )
            raise MissingCredentials(
                f"live venue {venue!r} needs exchange credentials; missing {', '.join(missing)} ({where})",
                venue=venue,
            )
        return self


# query/form parameters and JSON/header fields whose value is a key, a secret or a signature
_SECRET_FIELDS = re.compile(
    r"""(?ix)
    (?P<name>signature|api[_-]?key|api[_-]?secret|secret|x-mbx-apikey|listenkey)
    (?P<sep>\s*["']?\s*[=:]\s*["']?)
    (?P<value>[^&\s"',;}]+)
    """
)
_KNOWN: set[str] = set()


def redact(text: str) -> str:
    """``text`` with every signature, key or secret parameter's value and every loaded key or
    secret replaced by ``<redacted>``."""
    for value in sorted(_KNOWN, key=len, reverse=True):
        text = text.replace(value, "<redacted>")
    return _SECRET_FIELDS.sub(lambda m: f"{m['name']}{m['sep']}<redacted>", text)


def _remember(*values: str) -> None:
    _KNOWN.update(v for v in values if len(v) >= 8)  # short strings would mask ordinary words


def _from_dir(directory: str, key: str) -> str:
    path = Path(directory) / key
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
    except OSError as e:
        raise ConfigurationError(f"{CREDENTIALS_DIR_ENV}: cannot read {path}: {e.strerror}") from e


def load_credentials(
    api_key: str = "", secret: str = "", *, environ: Mapping[str, str] | None = None
) -> ExchangeCredentials:
    """Per key: the argument, else the environment variable, else the file in the credentials dir."""
    env = os.environ if environ is None else environ
    directory = env.get(CREDENTIALS_DIR_ENV, "")
    values: dict[str, str] = {}
    sources: list[str] = []
    for key, given in (("apiKey", api_key), ("secret", secret)):
        value, source = given, "arguments"
        if not value:
            value, source = env.get(SECRET_KEYS[key], "").strip(), "env"
        if not value and directory:
            value, source = _from_dir(directory, key), "files"
        values[key] = value
        if value and source not in sources:
            sources.append(source)
    _remember(values["apiKey"], values["secret"])
    return ExchangeCredentials(values["apiKey"], values["secret"], "+".join(sources) or "none")
