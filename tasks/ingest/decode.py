"""Web page bytes -> str: decode with the declared charset, else detection.

Decoding order: the HTTP `charset`, then the page's `<meta charset>`, then uchardet's
guess (resiliparse). The first that decodes strictly wins; a label that fails (a
mislabelled page) falls through to the next. If none decodes cleanly we decode the
guess with replacement characters and accept it only when they are rare; otherwise
the payload is `undecodable` (binary or mixed-up bytes) and goes to quarantine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

# Above this share of U+FFFD / control characters a decoded page is not text.
MAX_BAD_CHAR_RATIO = 0.01
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\ufffd]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)


class Undecodable(ValueError):
    """No charset turns this payload into text."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the charset used; "+replace" when some bytes were replaced


def _canonical(label: str | None) -> str | None:
    if not label:
        return None
    enc = map_encoding_to_html5(label.strip().strip("\"'"), fallback_utf8=False)
    return enc


def meta_charset(payload: bytes) -> str | None:
    m = _META_CHARSET.search(payload[:4096])
    return _canonical(m.group(1).decode("ascii", "ignore")) if m else None


def decode_html(payload: bytes, http_charset: str | None = None) -> Decoded:
    """Bytes of a web page -> str, with the charset that was used."""
    if payload.startswith(b"\xef\xbb\xbf"):
        payload, http_charset = payload[3:], "utf-8"
    tried: list[str] = []
    guess = None
    for label in (http_charset, meta_charset(payload), "detect"):
        if label == "detect":
            label = guess = detect_encoding(payload, max_len=65536, html5_compatible=True, from_html_meta=False)
        enc = _canonical(label)
        if not enc or enc in tried:
            continue
        tried.append(enc)
        try:
            return Decoded(payload.decode(enc), enc)
        except (UnicodeDecodeError, LookupError):
            continue
    enc = _canonical(guess) or "utf-8"
    text = payload.decode(enc, errors="replace")
    bad = len(_CONTROL.findall(text))
    if not text or bad > MAX_BAD_CHAR_RATIO * len(text):
        raise Undecodable(
            f"no charset decodes it (tried {', '.join(tried) or 'none'}; "
            f"{bad} of {len(text)} characters invalid as {enc})"
        )
    return Decoded(text, enc + "+replace")
