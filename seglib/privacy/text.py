"""Free-text PII masking with Spark regexes: e-mail addresses and phone numbers become placeholders."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

# local@domain.tld; case-insensitive, the TLD needs two letters so "a@b" in code snippets stays.
EMAIL_RE = r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"
# 7 to 19 digits, optionally "+"-prefixed, separated by at most two of " ().-" (e.g. "+44 20 7946 0958",
# "(555) 123-4567"); long digit runs such as card numbers are masked too (over-masking is the safe error).
# ISO dates (2024-01-15) are excluded so texts keep their time references.
PHONE_RE = r"(?<![\w+])(?!\d{4}-\d{2}-\d{2}(?!\d))\+?\(?\d(?:[ ().-]{0,2}\d){6,18}(?!\w)"


def mask_pii(col: Column) -> Column:
    """Mask e-mail addresses and phone numbers in a string column (null stays null)."""
    return F.regexp_replace(F.regexp_replace(col, EMAIL_RE, EMAIL_MASK), PHONE_RE, PHONE_MASK)
