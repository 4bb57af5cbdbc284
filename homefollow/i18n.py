"""Translations outside a request (SMS and e-mail texts written by services and sweeps).

Views use Flask-Babel; services use `t(locale, msgid, **params)`. Both read the same
catalogues in homefollow/translations, so there is one set of strings to translate.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LOCALES = ("nb", "en")
DEFAULT_LOCALE = "nb"


@cache
def _catalogue(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def N_(message: str) -> str:
    """Marks a string for translation where it is defined (tables); translated where used."""
    return message


def t(locale: str, message: str, **params) -> str:
    """Translate `message` into `locale`; `%(name)s` placeholders are filled from params."""
    text = _catalogue(locale if locale in LOCALES else DEFAULT_LOCALE).gettext(message)
    return text % params if params else text
