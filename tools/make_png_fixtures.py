#!/usr/bin/env python3
"""Write the PNG fixtures of Tests/BcosDataTests/Fixtures by hand (struct + zlib, no PIL).

    python3 tools/make_png_fixtures.py        # with Pillow installed it also rewrites resize_oracle.json

Every good fixture has known pixel values; expected.json holds the 8-bit RGBA that
`PNG.decode` must return for each (row-major, interleaved, width*height*4 values).
The bad_* files are broken on purpose, one defect each.
resize_oracle.json holds Pillow's BILINEAR resize of a small RGB image and of one float plane (mode "F"), the
reference for `Image.resized` and `resizedPlanar`; Pillow is used only for that, never to write the PNGs.

What libpng's simplified API (png_image_*, libpng 1.6.39) returns for RGBA8 output, checked with this data:
- 1/2/4-bit gray scale up exactly (v * 255 / (2^bits - 1)); palette and tRNS entries come back as they are;
  colour under alpha 0 is kept, not zeroed (no premultiplication).
- 16-bit samples: by default libpng treats 16-bit data without a gAMA/sRGB chunk as LINEAR light and converts
  it to sRGB (32768 would become 186). PNG.decode sets PNG_IMAGE_FLAG_16BIT_sRGB, so such data is taken as
  sRGB-encoded and colour and alpha become round(v / 257) exactly (Pillow keeps the high byte, v >> 8, of
  16-bit RGB/RGBA: at most 1 apart).
- a gAMA chunk is honoured: colour (not alpha) is converted from the file gamma to a screen gamma of 2.2 with a
  pure power law (rgb8_gamma10.png: gAMA 1.0, so v becomes round(255 * (v / 255) ** (1 / 2.2))).
"""

import json
import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "Tests" / "BcosDataTests" / "Fixtures"
W, H = 5, 3

GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows: list[bytes], bpp: int) -> bytes:
    """Filter each row with type (row index % 5) so the decoder's unfiltering is exercised."""
    out = bytearray()
    prior = bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        kind = i % 5
        line = bytearray()
        for j, x in enumerate(row):
            a = row[j - bpp] if j >= bpp else 0
            b = prior[j]
            c = prior[j - bpp] if j >= bpp else 0
            predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            line.append((x - predictor) & 0xFF)
        out += bytes([kind]) + line
        prior = row
    return bytes(out)


def pack_row(samples: list[int], depth: int) -> bytes:
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    bits = "".join(format(s, f"0{depth}b") for s in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(width: int, height: int, depth: int, color: int, pixels: list[list[int]], *,
        interlace: bool = False, extra: bytes = b"", level: int = 9) -> bytes:
    """pixels: row-major list of per-pixel sample lists (palette: [index])."""
    channels = CHANNELS[color]
    bpp = max(1, channels * depth // 8)

    def rows_of(xs: range, ys: range) -> list[bytes]:
        return [pack_row([s for x in xs for s in pixels[y * width + x]], depth) for y in ys]

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = range(x0, width, dx), range(y0, height, dy)
            if len(xs) and len(ys):
                raw += filter_rows(rows_of(xs, ys), bpp)
    else:
        raw = filter_rows(rows_of(range(width), range(height)), bpp)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b""))


def to8(v16: int) -> int:
    return (v16 * 255 + 32767) // 65535


def gamma22_from_linear8(v: int) -> int:
    """libpng's 8-bit gamma table for file gamma 1.0 and screen gamma 2.2 (a pure power law, not the sRGB curve)."""
    return math.floor(255 * (v / 255) ** (1 / 2.2) + 0.5)


def resize_oracle() -> None:
    try:
        import PIL
        from PIL import Image
    except ImportError:
        print("Pillow is not installed; kept the existing resize_oracle.json")
        return
    import array
    w, h = 13, 11
    state = 12345
    rgb = []
    for _ in range(w * h * 3):
        state = (state * 1103515245 + 12345) % 2**31
        rgb.append(state >> 23)
    image = Image.frombytes("RGB", (w, h), bytes(rgb))
    plane = [v / 255 for v in rgb[0::3]]  # [1, h, w]
    plane_image = Image.frombytes("F", (w, h), array.array("f", plane).tobytes())
    cases = []
    for size in [(5, 4), (29, 17), (7, 23), (1, 1), (13, 3), (4, 11), (26, 22)]:
        out = image.resize(size, Image.BILINEAR)
        out_f = plane_image.resize(size, Image.BILINEAR)
        cases.append({"width": size[0], "height": size[1], "rgb": list(out.tobytes()),
                      "plane": [float(f"{v:.9g}") for v in array.array("f", out_f.tobytes())]})
    oracle = {"pillow": PIL.__version__, "width": w, "height": h, "rgb": rgb,
              "plane": [float(f"{v:.9g}") for v in plane], "cases": cases}
    (OUT / "resize_oracle.json").write_text(json.dumps(oracle) + "\n")
    print(f"wrote resize_oracle.json with Pillow {PIL.__version__}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    expected: dict[str, list[int]] = {}
    n = W * H

    def add(name: str, data: bytes, rgba: list[tuple[int, int, int, int]], size: tuple[int, int] = (W, H)) -> None:
        assert len(rgba) == size[0] * size[1]
        files[name] = data
        expected[name] = {"width": size[0], "height": size[1], "rgba": [c for p in rgba for c in p]}

    def gray(v: int, a: int = 255) -> tuple[int, int, int, int]:
        return (v, v, v, a)

    for depth in (1, 2, 4):
        top = (1 << depth) - 1
        values = [(i * 7 + i // W) % (top + 1) for i in range(n)]
        add(f"gray{depth}.png", png(W, H, depth, GRAY, [[v] for v in values]),
            [gray(v * 255 // top) for v in values])

    g8 = [0, 1, 2, 127, 128, 129, 200, 254, 255, 17, 34, 51, 68, 85, 102]
    add("gray8.png", png(W, H, 8, GRAY, [[v] for v in g8]), [gray(v) for v in g8])

    # 16-bit values that are and are not multiples of 257, to pin the rounding down.
    g16 = [0, 65535, 32768, 32767, 0x1234, 257 * 100, 256, 128, 129, 0xFF7F, 0xFF80, 0x00FF, 0x8080, 1000, 60000]
    add("gray16.png", png(W, H, 16, GRAY, [[v] for v in g16]), [gray(to8(v)) for v in g16])

    ga8 = [(v, a) for v, a in zip(g8, [255, 0, 128, 1, 254, 64, 255, 0, 200, 100, 50, 25, 12, 6, 3])]
    add("gray_alpha8.png", png(W, H, 8, GRAY_ALPHA, [list(p) for p in ga8]), [gray(v, a) for v, a in ga8])

    ga16 = [(v, a) for v, a in zip(g16, [65535, 0, 32768, 65535, 65535, 257 * 7, 65535, 0x8080, 65535,
                                         65535, 65535, 65535, 65535, 65535, 65535])]
    add("gray_alpha16.png", png(W, H, 16, GRAY_ALPHA, [list(p) for p in ga16]),
        [gray(to8(v), to8(a)) for v, a in ga16])

    rgb8 = [((i * 37) % 256, (i * 91 + 5) % 256, (255 - i * 13) % 256) for i in range(n)]
    add("rgb8.png", png(W, H, 8, RGB, [list(p) for p in rgb8]), [(*p, 255) for p in rgb8])

    rgb16 = [(g16[i], g16[(i + 5) % n], g16[(i + 10) % n]) for i in range(n)]
    add("rgb16.png", png(W, H, 16, RGB, [list(p) for p in rgb16]), [(*map(to8, p), 255) for p in rgb16])

    rgba8 = [(r, g, b, [255, 0, 128, 1, 77][i % 5]) for i, (r, g, b) in enumerate(rgb8)]
    add("rgba8.png", png(W, H, 8, RGBA, [list(p) for p in rgba8]), rgba8)

    rgba16 = [(*p, 65535) for p in rgb16]
    add("rgba16.png", png(W, H, 16, RGBA, [list(p) for p in rgba16]), [tuple(map(to8, p)) for p in rgba16])

    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30), (200, 150, 100), (255, 255, 255)]
    plte = chunk(b"PLTE", bytes(c for p in palette for c in p))
    idx4 = [(i * 5) % len(palette) for i in range(n)]
    add("palette4.png", png(W, H, 4, PALETTE, [[k] for k in idx4], extra=plte),
        [(*palette[k], 255) for k in idx4])

    # tRNS shorter than PLTE: entries past its end stay opaque.
    alphas = [0, 128, 255, 30]
    trns = chunk(b"tRNS", bytes(alphas))
    idx8 = [(i * 2 + i // W) % len(palette) for i in range(n)]
    add("palette8_trns.png", png(W, H, 8, PALETTE, [[k] for k in idx8], extra=plte + trns),
        [(*palette[k], alphas[k] if k < len(alphas) else 255) for k in idx8])

    key = rgb8[3]
    add("rgb8_trns.png", png(W, H, 8, RGB, [list(p) for p in rgb8], extra=chunk(b"tRNS", struct.pack(">HHH", *key))),
        [(*p, 0 if p == key else 255) for p in rgb8])

    gamma10 = chunk(b"gAMA", struct.pack(">I", 100000))
    add("rgb8_gamma10.png", png(W, H, 8, RGB, [list(p) for p in rgb8], extra=gamma10),
        [(*map(gamma22_from_linear8, p), 255) for p in rgb8])

    # 9x9 so that every Adam7 pass has pixels, some passes with partial rows/columns.
    iw = ih = 9
    inter = [((x * 28) % 256, (y * 28) % 256, (x * y * 3) % 256, 255 - x - 9 * y) for y in range(ih) for x in range(iw)]
    add("rgba8_adam7.png", png(iw, ih, 8, RGBA, [list(p) for p in inter], interlace=True), inter, (iw, ih))

    # Broken files.
    files["bad_text.png"] = b"this is a text file, not a picture\n"
    files["bad_empty.png"] = b""
    big = [[(x * 7 + y * 3) % 256 for _ in range(3)] for y in range(16) for x in range(16)]
    whole = png(16, 16, 8, RGB, big, level=0)
    idat = whole.index(b"IDAT")
    idat_len = struct.unpack(">I", whole[idat - 4:idat])[0]
    files["bad_truncated.png"] = whole[:idat + 4 + idat_len // 2]
    huge_ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, RGBA, 0, 0, 0)
    files["bad_huge.png"] = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", huge_ihdr)
                             + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    good = bytearray(files["gray8.png"])
    crc_at = good.index(b"IDAT") + 4 + struct.unpack(">I", good[good.index(b"IDAT") - 4:good.index(b"IDAT")])[0]
    good[crc_at] ^= 0xFF
    files["bad_crc.png"] = bytes(good)

    for name, data in files.items():
        (OUT / name).write_bytes(data)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(files)} PNG files and expected.json to {OUT}")
    resize_oracle()


if __name__ == "__main__":
    main()
