"""WebP thumbnails for images and stickers, cheap in time and memory.

A JPEG is decoded in Pillow's draft mode (libjpeg's reduced DCT: 1/2, 1/4 or 1/8 of the
size), so a 12 MP photo never becomes a 12 MP bitmap. EXIF orientation is applied (phones
store photos sideways and set a flag), alpha is kept, animated stickers take their first
frame, and anything larger than `max_pixels` is refused before decoding (a decompression
bomb stays a file without thumbnail). Pillow is imported lazily: it is heavy to load.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import BinaryIO

DEFAULT_MAX_PX = int(os.environ.get("MEDIA_THUMBNAIL_MAX_PX", "320"))
# 40 MP covers every phone photo WhatsApp lets through (it caps images at 5 MB) with room to
# spare; above that an image is almost certainly crafted to exhaust memory.
DEFAULT_MAX_PIXELS = int(os.environ.get("MEDIA_MAX_IMAGE_PIXELS", str(40_000_000)))
WEBP_QUALITY = 80


class ThumbnailError(Exception):
    """The image cannot be thumbnailed; `code` goes into the message's `dados`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    source_width: int  # the original's size after EXIF orientation
    source_height: int
    content_type: str = "image/webp"


def make_thumbnail(
    source: bytes | BinaryIO,
    max_px: int = DEFAULT_MAX_PX,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Thumbnail:
    """A WebP of at most `max_px` on its longer side; raises ThumbnailError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    # Pillow's own guard (checked when the header is read) is process-wide: hold it at our
    # configured ceiling; a stricter per-call `max_pixels` is checked below, still before decoding.
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > DEFAULT_MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise ThumbnailError(
                        "imagem_grande_demais",
                        f"Imagem de {width}x{height} pixels excede o limite de {max_pixels}; guardada sem miniatura.",
                    )
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)  # animated sticker: the first frame stands for the rest
                if im.format == "JPEG":
                    # Reduced-DCT decode straight to at least max_px on each side.
                    im.draft("RGB", (max_px, max_px))
                oriented = ImageOps.exif_transpose(im)  # loads (decodes) the image
                source_w, source_h = _oriented_size(im, width, height)
                thumb = _normalise_mode(oriented)
                thumb.thumbnail((max_px, max_px), Image.Resampling.LANCZOS, reducing_gap=2.0)
                out = io.BytesIO()
                thumb.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
                return Thumbnail(out.getvalue(), thumb.width, thumb.height, source_w, source_h)
    except ThumbnailError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ThumbnailError("imagem_grande_demais", f"Imagem grande demais para miniatura: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # Pillow reports truncated or garbled data through any of these.
        raise ThumbnailError("imagem_corrompida", f"A imagem não pôde ser decodificada: {exc}") from exc


def _oriented_size(im, width: int, height: int) -> tuple[int, int]:
    # EXIF orientations 5-8 rotate by 90 degrees: width and height swap.
    orientation = im.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _normalise_mode(im):
    """RGB, or RGBA when the image has any transparency (PNG alpha, sticker)."""
    if im.mode in ("RGB", "RGBA"):
        return im
    if im.mode in ("LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return im.convert("RGBA")
    return im.convert("RGB")
