#!/usr/bin/env python3
"""Write the JPEG fixtures of Tests/BcosDataTests/Fixtures with Pillow, and jpeg_expected.json with the 8-bit RGB
that Pillow decodes from each (what `JPEG.decode` must return, within a tolerance of a couple of levels since the
two may link different libjpeg-turbo versions).

    python3 -m venv /tmp/pil && /tmp/pil/bin/pip install pillow && /tmp/pil/bin/python tools/make_jpeg_fixtures.py

- rgb.jpg:  13x9 colour gradient, 4:2:0 chroma subsampling, progressive (odd size: partial MCUs at the edges).
- gray.jpg: 13x9 single-channel (grayscale) JPEG; decodes to R = G = B.
- cmyk.jpg: 13x9 Adobe CMYK JPEG (Pillow writes the inks inverted, as Photoshop does); Pillow's convert("RGB")
  gives R = C' * K' / 255 on the decoded (inverted) samples.
"""

import json
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "Tests" / "BcosDataTests" / "Fixtures"
W, H = 13, 9


def rgb_source():
    image = Image.new("RGB", (W, H))
    image.putdata([(x * 255 // (W - 1), y * 255 // (H - 1), (x + y) * 255 // (W + H - 2))
                   for y in range(H) for x in range(W)])
    return image


def main():
    source = rgb_source()
    source.save(OUT / "rgb.jpg", quality=95, subsampling="4:2:0", progressive=True)
    source.convert("L").save(OUT / "gray.jpg", quality=95)
    cmyk = Image.new("CMYK", (W, H))
    cmyk.putdata([(x * 255 // (W - 1), y * 255 // (H - 1), 64, (x * y * 4) % 128)
                  for y in range(H) for x in range(W)])
    cmyk.save(OUT / "cmyk.jpg", quality=95)

    expected = {}
    for name in ("rgb.jpg", "gray.jpg", "cmyk.jpg"):
        with Image.open(OUT / name) as image:
            decoded = image.convert("RGB")
            expected[name] = {"width": decoded.width, "height": decoded.height,
                              "rgb": list(decoded.tobytes())}
    (OUT / "jpeg_expected.json").write_text(json.dumps(expected, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
