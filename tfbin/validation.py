"""Argument checks that name the argument and what it accepts.

Layers, callbacks and functions check their arguments when they are called
or built, and a bad value raises a ValueError such as
"update_every must be an int >= 1, got 0". These helpers keep those
messages the same everywhere.

```python
from tfbin.validation import check_int, check_one_of

check_int("epochs", 3, minimum=1)                 # 3
check_one_of("schedule", "linear", ("linear", "polynomial"))
try:
    check_int("epochs", True, minimum=1)          # bool is not a count
except ValueError as error:
    print(error)
```
"""
import math
import numbers

__all__ = ["check_fraction", "check_int", "check_number", "check_one_of", "is_int"]


def is_int(value):
    """An integer, but not a bool (`epochs=True` is a mistake, not 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bounds(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def check_int(name, value, minimum=None, maximum=None):
    """`value` as an int, or ValueError naming `name` and the allowed range."""
    if (
        not is_int(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"{name} must be an int{_bounds(minimum, maximum)}, got {value!r}")
    return int(value)


def check_number(name, value, minimum=None, maximum=None, positive=False):
    """`value` as a float: finite, real, not a bool, within the bounds; else ValueError.

    With `positive`, 0 is refused too.
    """
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
        and (not positive or value > 0)
    )
    if not ok:
        what = "a positive number" if positive else "a number"
        raise ValueError(f"{name} must be {what}{_bounds(minimum, maximum)}, got {value!r}")
    return float(value)


def check_fraction(name, value, include_zero=True, include_one=False):
    """A number in [0, 1) by default; the ends are allowed as asked."""
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and (value >= 0 if include_zero else value > 0)
        and (value <= 1 if include_one else value < 1)
    )
    if not ok:
        interval = ("[" if include_zero else "(") + "0, 1" + ("]" if include_one else ")")
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_one_of(name, value, allowed):
    """`value` if it is one of the names in `allowed`, else ValueError listing them."""
    if isinstance(value, str) and value in allowed:
        return value
    raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
