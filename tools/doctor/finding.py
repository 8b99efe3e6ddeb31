"""One finding of the doctor, and the small formatting helpers every check module shares.

Kept apart from the checks so that every check module (failure_checks.py, stage_checks.py, sql_checks.py,
resource_checks.py) and the report in diagnosis.py import it from one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass
class Finding:
    check: str
    severity: str
    stage: int | None
    evidence: dict[str, Any]
    advice: str
    summary: str  # one line for the human report; not part of the JSON

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "stage": self.stage, "evidence": self.evidence,
                "advice": self.advice}


def mib(n: float) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def size(n: float) -> str:
    """Bytes for a person: B, KiB, MiB or GiB, whichever reads best."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def level(ratio: float, warning: float, critical: float) -> str | None:
    return "critical" if ratio >= critical else "warning" if ratio >= warning else None


def size_bytes(text: str | None, default: int) -> int:
    """A byte size as Spark reads it (JavaUtils.byteStringAsBytes: b, k, m, g, t, p, binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgtp]?)b?\s*", (text or "").lower())
    if not match:
        return default
    return int(match.group(1)) * 1024 ** " kmgtp".index(match.group(2) or " ")
