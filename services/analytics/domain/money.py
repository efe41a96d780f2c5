"""Money as integer minor units of an ISO 4217 currency.

Providers report money as micros (Google Ads), decimal strings in major units (Meta, LinkedIn) or
floats; the exponent of the currency (2 for EUR, 0 for JPY, 3 for KWD) says how many minor units
make a major one. Rounding is half up, as accountants expect.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not the cent; every other currency has two decimals.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"), 0),
    **dict.fromkeys(("UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


LIMIT = Decimal(10**18)
"""Far beyond any real figure, and small enough that scaling and rounding stay exact under the
default decimal context (28 digits)."""


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def decimal_of(value: object) -> Decimal:
    """A finite decimal from an int, float or numeric string (ValueError otherwise)."""
    if isinstance(value, bool):
        raise ValueError("a number is needed, not a boolean")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if abs(number) >= LIMIT:
        raise ValueError("a number of at most 18 digits before the point is needed")
    return number


def major_to_minor(value: object, currency: str) -> int:
    """ "12.345" EUR -> 1235 (half up); "1500" JPY -> 1500."""
    scaled = decimal_of(value).scaleb(exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def micros_to_minor(micros: object, currency: str) -> int:
    """Google Ads' cost_micros: millionths of the major unit."""
    scaled = decimal_of(micros).scaleb(exponent(currency) - 6)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def minor_to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))
