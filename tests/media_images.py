"""Test media made with Pillow at test time (nothing downloaded): builders for the media tests."""

from __future__ import annotations

import io

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)


def jpeg_rotated_exif(width: int = 1600, height: int = 800, orientation: int = 6) -> bytes:
    """Stored sideways: left half red, right half blue, EXIF says "rotate 90° clockwise".

    Shown upright it is tall, red on top and blue at the bottom.
    """
    from PIL import Image

    im = Image.new("RGB", (width, height), RED)
    im.paste(BLUE, (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png_with_alpha(width: int = 600, height: int = 400) -> bytes:
    """Left half fully transparent, right half opaque green."""
    from PIL import Image

    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    im.paste((*GREEN, 255), (width // 2, 0, width, height))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def animated_webp(size: int = 512) -> bytes:
    """Two frames: red, then blue."""
    from PIL import Image

    frames = [Image.new("RGBA", (size, size), (*RED, 255)), Image.new("RGBA", (size, size), (*BLUE, 255))]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def big_jpeg(width: int = 4000, height: int = 3000, quality: int = 90) -> bytes:
    """A 12 MP photo-like JPEG (gradients and noise, so it compresses like a photo)."""
    import random

    from PIL import Image

    small = Image.new("RGB", (width // 16, height // 16))
    rng = random.Random(4)
    small.putdata(
        [
            ((x * 255) // (width // 16), (y * 255) // (height // 16), rng.randrange(256))
            for y in range(height // 16)
            for x in range(width // 16)
        ]
    )
    im = small.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def corrupt_jpeg() -> bytes:
    """Starts like a JPEG (so the type check passes) but the data is garbage."""
    good = jpeg_rotated_exif(64, 32, 1)
    return good[:120] + bytes(range(256)) * 8


def ogg_opus_voice_note(size: int = 20_000) -> bytes:
    """An Ogg page header (`OggS`, version 0, BOS) with an OpusHead, then filler."""
    head = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    return head + bytes((i * 7) % 251 for i in range(size - len(head)))


def webp_header_bytes(size: int) -> bytes:
    """`RIFF....WEBP` followed by filler: enough to pass the type check, not to decode."""
    return b"RIFF" + (size - 8).to_bytes(4, "little") + b"WEBPVP8 " + b"\x00" * (size - 16)


def pixel(im, xy):
    value = im.getpixel(xy)
    return value if isinstance(value, tuple) else (value,)


def close_to(actual, expected, tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))
