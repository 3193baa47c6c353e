"""Just enough Edwards25519 arithmetic (RFC 8032, section 5.1) to refuse public keys that no honest key generator
produces: encodings that are not a point of the curve, non-canonical encodings, and points of small order.

A small-order public key is a weak key: with it, one signature can verify for many messages, so a reviewer could
register one and later disown what "they" signed. ``cryptography`` accepts any 32 bytes as a public key, hence this.
Only the public key is ever handled here, so constant time does not matter.
"""

from __future__ import annotations

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z


def decode_point(encoded: bytes) -> Point | None:
    """The point encoded by 32 bytes, or None when the bytes encode no point (or encode one non-canonically)."""
    if len(encoded) != 32:
        return None
    number = int.from_bytes(encoded, "little")
    sign = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= P:
        return None
    # x^2 = (y^2 - 1) / (d y^2 + 1)
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    if x2 == 0:
        if sign:
            return None  # x = 0 has no negative: "-0" is a non-canonical encoding
        return (0, y, 1, 0)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _double(point: Point) -> Point:
    x1, y1, z1, _ = point
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = (a + b) % P
    e = (h - (x1 + y1) * (x1 + y1)) % P
    g = (a - b) % P
    f = (c + g) % P
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def has_small_order(point: Point) -> bool:
    """Whether ``8 * point`` is the identity (the point's order divides the cofactor)."""
    for _ in range(3):
        point = _double(point)
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0
