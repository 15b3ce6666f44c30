"""Plane geometry for keep-out zones: point in polygon, distance to its edges.

Coordinates are the site's local metric frame (metres, the frame the simulator
reports the rig position in). A polygon is a sequence of (x, y) vertices, open
(the last vertex is joined to the first), simple (no self-intersection) and of
non-zero area; ``validate_polygon`` enforces this so the even-odd rule used by
``contains`` means "inside" for every zone the configuration accepts.
A point counts as *in a zone* when it is inside the polygon or within
``margin`` of any of its edges, so the margin grows the zone outward all round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]


def segment_distance(p: Point, a: Point, b: Point) -> float:
    """Euclidean distance from ``p`` to the segment ``ab``."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0.0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy)
                                                / length2))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def edges(poly: Sequence[Point]) -> list[tuple[Point, Point]]:
    return [(poly[i], poly[(i + 1) % len(poly)]) for i in range(len(poly))]


def edge_distance(p: Point, poly: Sequence[Point]) -> float:
    """Distance from ``p`` to the nearest edge of ``poly`` (0 on the boundary)."""
    return min(segment_distance(p, a, b) for a, b in edges(poly))


def contains(poly: Sequence[Point], p: Point) -> bool:
    """Even-odd ray casting; points on the boundary count as inside."""
    if edge_distance(p, poly) == 0.0:
        return True
    x, y = p
    inside = False
    for (x1, y1), (x2, y2) in edges(poly):
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def signed_distance(poly: Sequence[Point], p: Point) -> float:
    """Negative inside the polygon, positive outside: distance to the boundary."""
    d = edge_distance(p, poly)
    return -d if contains(poly, p) else d


def area(poly: Sequence[Point]) -> float:
    """Unsigned area (shoelace)."""
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in edges(poly))) / 2.0


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    # collinear overlaps count as crossing: they make the boundary ambiguous
    return any(d == 0 and segment_distance(pt, a, b) == 0.0 for d, pt, (a, b) in (
        (d1, p1, (q1, q2)), (d2, p2, (q1, q2)), (d3, q1, (p1, p2)), (d4, q2, (p1, p2))))


def validate_polygon(poly: Sequence[Point]) -> str | None:
    """``None`` for a usable polygon, else what is wrong with it."""
    if len(poly) < 3:
        return f"expected at least 3 vertices, got {len(poly)}"
    es = edges(poly)
    n = len(es)
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a vertex
            if _segments_cross(*es[i], *es[j]):
                return f"edges {i} and {j} cross (the polygon must be simple)"
    if area(poly) <= 1e-9:
        return "polygon has zero area"
    return None


__all__ = [
    "Point",
    "area",
    "contains",
    "edge_distance",
    "segment_distance",
    "signed_distance",
    "validate_polygon",
]
