"""Store names, retention durations, password redaction, and the report merge (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.ground.stores import (
    StoreConfigError,
    StoreKind,
    parse_retention,
    parse_target,
    redact_url,
)
from telemetry.ground.summary import ReportBuilder


@pytest.mark.parametrize(("text", "kind", "location"), [
    ("run.db", StoreKind.SQLITE, "run.db"),
    ("/data/run.db", StoreKind.SQLITE, "/data/run.db"),
    ("sqlite:///run.db", StoreKind.SQLITE, "run.db"),
    ("sqlite:////data/run.db", StoreKind.SQLITE, "/data/run.db"),
    ("postgresql://rig@db:5432/fleet", StoreKind.POSTGRES, "postgresql://rig@db:5432/fleet"),
    ("postgres://db/fleet", StoreKind.POSTGRES, "postgres://db/fleet"),
])
def test_store_targets(text: str, kind: StoreKind, location: str) -> None:
    target = parse_target(text)
    assert (target.kind, target.location) == (kind, location)
    assert parse_target(Path(text)).kind is StoreKind.SQLITE


@pytest.mark.parametrize("text", ["mysql://db/x", "sqlite://run.db", "sqlite:///", ""])
def test_bad_store_targets_name_the_option(text: str) -> None:
    with pytest.raises(StoreConfigError, match="^store: expected"):
        parse_target(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("30d", 30 * 86400.0), ("12h", 43200.0), ("90m", 5400.0), ("600s", 600.0),
    ("600", 600.0), ("1.5h", 5400.0), ("2w", 14 * 86400.0), ("forever", None), ("0", None),
])
def test_retention_durations(text: str, seconds: float | None) -> None:
    assert parse_retention(text) == seconds


@pytest.mark.parametrize("text", ["", "30 days", "-1d", "d", "1y"])
def test_bad_retention_is_a_clear_error(text: str) -> None:
    with pytest.raises(StoreConfigError, match=r"^retention: expected a duration like 30d"):
        parse_retention(text)


def test_passwords_never_shown() -> None:
    assert redact_url("postgresql://rig:s3cret@db/fleet") == "postgresql://rig:***@db/fleet"
    assert redact_url("postgresql://rig@db/fleet") == "postgresql://rig@db/fleet"
    assert redact_url("run.db") == "run.db"


# --- ReportBuilder: the merge of recorders' shares equals one store holding it all -------

_rows = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["state", "event"]),
                           st.integers(0, 40), st.booleans(), st.booleans(),
                           st.integers(0, 3)),
                 min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(rows=_rows, evicted=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5)),
                                    max_size=3))
def test_split_between_recorders_gives_the_same_counts(rows, evicted) -> None:
    def build(parts: int) -> list:
        b = ReportBuilder()
        for first, n in evicted:
            b.add_evicted("a", "state", first, first + n)
        for part in range(parts):  # sources are read one after the other
            for rig, stream, seq, hist, resend, owner in rows:
                if owner % parts == part:
                    b.add_row(rig, stream, "state", seq, 10.0, 9.9, hist, resend)
        return [(r.rig, r.stream, r.received, r.unique, r.duplicates, r.gaps, r.evicted,
                 r.first_seq, r.last_seq) for r in b.finish().streams]

    whole = build(1)
    assert build(2) == whole and build(4) == whole
    # and against the definitions, computed naively
    for rig, stream, received, unique, dups, gaps, n_evicted, lo, hi in whole:
        seqs = [r[2] for r in rows if (r[0], r[1]) == (rig, stream)]
        ev = {n for f, k in evicted for n in range(f, f + k + 1)} \
            if (rig, stream) == ("a", "state") else set()
        assert received == len(seqs) and unique == len(set(seqs))
        assert dups == received - unique and (lo, hi) == (min(seqs), max(seqs))
        assert gaps == len([n for n in range(lo, hi + 1) if n not in seqs and n not in ev])
        assert n_evicted == len(ev)
