"""URL templates filled from an explicit macro table, every value URL-encoded.

`{name}` is our macro syntax. A macro the table does not know is filled with an empty string
at click time: the visitor must still be redirected. Saving a template with a macro that can
never have a value is refused earlier, when the template is validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

MACRO = re.compile(r"\{([A-Za-z0-9_]+)\}")
# Characters that may stay as they are in a URL; anything else (non-ASCII, spaces) is escaped.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


def fill(template: str, values: Mapping[str, object]) -> str:
    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            value = values.get(match.group(1).lower())
        return "" if value is None else quote(str(value), safe="")

    return quote(MACRO.sub(replace, template), safe=_URL_SAFE)


def macros_in(template: str) -> set[str]:
    return set(MACRO.findall(template))
