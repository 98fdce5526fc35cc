#!/usr/bin/env python3
"""Draw assets/images/demo.png: a 32x32 synthetic scene (red disc, yellow bar, sky-to-grass
gradient) for the README's first command. Standard library only."""
import math
import struct
import zlib

W = H = 32


def pixel(x: int, y: int) -> tuple:
    sky = (70 + 3 * y, 130 + 2 * y, 220 - 4 * y) if y < 20 else (40, 140 - (y - 20) * 3, 50)
    if math.hypot(x - 11, y - 12) < 6:
        return (220, 40, 30)
    if 20 <= x <= 27 and 6 <= y <= 24 and abs(x - 23.5) < 2:
        return (240, 210, 40)
    return sky


def main() -> None:
    raw = b"".join(b"\x00" + bytes(v for x in range(W) for v in pixel(x, y)) for y in range(H))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open("assets/images/demo.png", "wb") as f:
        f.write(png)


if __name__ == "__main__":
    main()
