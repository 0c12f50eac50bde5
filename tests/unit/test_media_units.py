"""Media pipeline pieces without I/O: thumbnails, type sniffing, limits, names, hashes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io

import pytest
from PIL import Image

from chalicelib.services import media_storage
from chalicelib.services.thumbnails import ThumbnailError, make_thumbnail
from tests.media_images import (
    BLUE,
    GREEN,
    RED,
    animated_webp,
    big_jpeg,
    close_to,
    corrupt_jpeg,
    jpeg_rotated_exif,
    ogg_opus_voice_note,
    pixel,
    png_with_alpha,
)


def open_webp(data: bytes):
    im = Image.open(io.BytesIO(data))
    assert im.format == "WEBP"
    return im


def test_thumbnail_applies_exif_orientation():
    thumb = make_thumbnail(jpeg_rotated_exif(1600, 800, orientation=6))
    im = open_webp(thumb.data).convert("RGB")
    # Stored 1600x800 sideways; upright it is 800x1600, so the thumbnail is 160x320.
    assert (thumb.width, thumb.height) == (160, 320) == im.size
    assert (thumb.source_width, thumb.source_height) == (800, 1600)
    assert close_to(pixel(im, (80, 20)), RED), pixel(im, (80, 20))
    assert close_to(pixel(im, (80, 300)), BLUE), pixel(im, (80, 300))


def test_thumbnail_respects_a_configured_size():
    thumb = make_thumbnail(jpeg_rotated_exif(1600, 800, orientation=1), max_px=100)
    assert (thumb.width, thumb.height) == (100, 50)


def test_jpeg_is_decoded_in_draft_mode(monkeypatch):
    from PIL import JpegImagePlugin

    decoded_sizes = []
    original = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        result = original(self)
        decoded_sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    make_thumbnail(big_jpeg(4000, 3000))
    # libjpeg's 1/8 scale: the 12 MP photo became 500x375, never 4000x3000.
    assert decoded_sizes and max(w * h for w, h in decoded_sizes) <= 500 * 375


def test_png_alpha_is_kept():
    thumb = make_thumbnail(png_with_alpha(600, 400))
    im = open_webp(thumb.data)
    assert im.mode == "RGBA" and im.size == (320, 213)
    assert pixel(im, (10, 100))[3] == 0
    assert pixel(im, (300, 100))[3] == 255 and close_to(pixel(im, (300, 100))[:3], GREEN)


def test_animated_sticker_takes_the_first_frame():
    thumb = make_thumbnail(animated_webp(512))
    im = open_webp(thumb.data)
    assert getattr(im, "n_frames", 1) == 1 and im.size == (320, 320)
    assert close_to(pixel(im.convert("RGB"), (160, 160)), RED)


def test_corrupt_jpeg_raises_a_thumbnail_error_not_a_crash():
    with pytest.raises(ThumbnailError) as caught:
        make_thumbnail(corrupt_jpeg())
    assert caught.value.code == "imagem_corrompida"


def test_not_an_image_is_a_thumbnail_error():
    with pytest.raises(ThumbnailError) as caught:
        make_thumbnail(ogg_opus_voice_note())
    assert caught.value.code == "imagem_corrompida"


@pytest.mark.parametrize("side", [40, 60])  # 1600 px is under Pillow's 2x bomb error, 3600 above it
def test_too_many_pixels_is_refused_before_decoding(side):
    with pytest.raises(ThumbnailError) as caught:
        make_thumbnail(jpeg_rotated_exif(side, side, 1), max_pixels=1000)
    assert caught.value.code == "imagem_grande_demais"


def test_decompression_bomb_over_pillows_global_guard(monkeypatch):
    # A 1-bit PNG of 100 million pixels is tiny on disk and huge in memory.
    im = Image.new("1", (10_000, 10_000), 0)
    out = io.BytesIO()
    im.save(out, "PNG")
    assert len(out.getvalue()) < 200_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000_000)
    with pytest.raises(ThumbnailError) as caught:
        make_thumbnail(out.getvalue(), max_pixels=10**9)
    assert caught.value.code == "imagem_grande_demais"


@pytest.mark.parametrize(
    ("mime", "head", "ok"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 12, True),
        ("image/jpeg", b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, False),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, True),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", True),
        ("image/webp", b"RIFF\x10\x00\x00\x00AVI LIST", False),
        ("audio/ogg; codecs=opus", b"OggS\x00\x02" + b"\x00" * 10, True),
        ("audio/ogg", b"ID3\x03" + b"\x00" * 12, False),
        ("audio/mpeg", b"ID3\x03" + b"\x00" * 12, True),
        ("audio/amr", b"#!AMR\n" + b"\x00" * 10, True),
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4, True),
        ("video/mp4", b"%PDF-1.7" + b"\x00" * 8, False),
        ("application/pdf", b"%PDF-1.7" + b"\x00" * 8, True),
        ("application/pdf", b"MZ\x90\x00" + b"\x00" * 12, False),
        ("text/plain", b"qualquer coisa", True),  # no signature: not sniffed
    ],
)
def test_magic_bytes_against_declared_type(mime, head, ok):
    assert media_storage.matches_mime(mime, head) is ok


def test_size_limits_follow_whatsapp():
    mb = 1024 * 1024
    assert media_storage.size_limit("image") == 5 * mb
    assert media_storage.size_limit("audio") == 16 * mb
    assert media_storage.size_limit("video") == 16 * mb
    assert media_storage.size_limit("document") == 100 * mb
    assert media_storage.size_limit("sticker") == 100 * 1024
    assert media_storage.size_limit("sticker", animated=True) == 500 * 1024


def test_object_key_is_under_the_message_and_stable():
    created = dt.datetime(2026, 3, 9, 23, 59, tzinfo=dt.UTC)
    key = media_storage.object_key(created, "7c0f-uuid", "1234/../x", ".jpg")
    assert key == "media/2026/03/7c0f-uuid/1234_.._x.jpg"
    assert media_storage.thumbnail_key(key) == "media/2026/03/7c0f-uuid/1234_.._x.thumb.webp"


def test_extension_prefers_the_document_name_then_the_mime_type():
    assert media_storage.extension_for("application/pdf", "Contrato.PDF") == ".pdf"
    assert media_storage.extension_for("audio/ogg; codecs=opus") == ".ogg"
    assert media_storage.extension_for("application/x-nada-conhecido") == ".bin"


def test_content_disposition_keeps_the_original_name():
    header = media_storage.content_disposition('Matrícula "2026".pdf')
    assert header.startswith("attachment; filename=\"Matricula '2026'.pdf\"")
    assert "filename*=UTF-8''Matr%C3%ADcula%20%222026%22.pdf" in header


def test_sha256_accepts_base64_and_hex_and_refuses_others():
    digest = hashlib.sha256(b"abc").digest()
    b64 = base64.b64encode(digest).decode()
    assert media_storage.sha256_matches(b64, digest)
    assert media_storage.sha256_matches(digest.hex(), digest)
    assert not media_storage.sha256_matches(base64.b64encode(b"x" * 32).decode(), digest)
    assert media_storage.normalize_sha256(digest.hex()) == b64
    assert media_storage.normalize_sha256("not a hash") is None


def _disposition_parts(header: str) -> tuple[str, str]:
    """(filename, filename*) of a Content-Disposition, parsed the way a browser's RFC 6266 parser
    would: the quoted-string ends at the first `"`, parameters at `;` outside quotes."""
    import re
    from urllib.parse import unquote

    match = re.fullmatch(
        r"attachment; filename=\"([^\"\\\\]*)\"; filename\*=UTF-8''([A-Za-z0-9%!#$&+\-.^_`|~]+)", header
    )
    assert match, header
    return match.group(1), unquote(match.group(2), encoding="utf-8", errors="strict")


def test_content_disposition_of_a_non_ascii_name_round_trips():
    ascii_name, exact = _disposition_parts(media_storage.content_disposition("matrícula.pdf"))
    assert ascii_name == "matricula.pdf"
    assert exact == "matrícula.pdf"


@pytest.mark.parametrize(
    "filename",
    [
        'boleto"; filename="evil.exe',
        "boleto.pdf\r\nX-Amz-Meta-Evil: 1",
        "boleto\n.pdf",
        "bo\\leto\u2028.pdf\t",
        'a"b\\"c;d=e%41.pdf',
    ],
)
def test_quotes_and_newlines_in_a_name_cannot_break_the_header(filename):
    header = media_storage.content_disposition(filename)
    assert header.isascii() and header.isprintable()  # no CR/LF/control: one header, one line
    ascii_name, exact = _disposition_parts(header)  # exactly two parameters, nothing injected
    assert "%" not in ascii_name  # RFC 6266 D: some clients percent-decode `filename`
    assert "\r" not in exact and "\n" not in exact and "\u2028" not in exact
    assert exact.startswith(filename[:2])  # still the customer's name


def test_a_name_with_nothing_ascii_gets_a_neutral_fallback_not_a_hidden_file():
    ascii_name, exact = _disposition_parts(media_storage.content_disposition("学生证.pdf"))
    assert ascii_name == "arquivo.pdf"
    assert exact == "学生证.pdf"
    assert _disposition_parts(media_storage.content_disposition("   "))[0] == "arquivo"


def test_a_very_long_name_is_cut_keeping_its_extension():
    header = media_storage.content_disposition("ç" * 5000 + ".pdf")
    ascii_name, exact = _disposition_parts(header)
    assert len(header) < 2000  # S3 refuses requests whose headers pass 8 KB
    assert exact.endswith(".pdf") and len(exact) == media_storage.MAX_FILENAME_CHARS
    assert ascii_name.endswith(".pdf") and ascii_name.startswith("ccc")


def test_a_cold_start_imports_no_media_or_outbound_heavyweights():
    """Every Lambda of the app imports app.py: Pillow, requests, boto3, pywebpush and the
    worker's batch utilities are loaded only on the code paths that need them."""
    import subprocess
    import sys
    from pathlib import Path

    heavy = ["PIL", "requests", "boto3", "pywebpush", "aws_lambda_powertools.utilities.batch"]
    script = f"import sys, app; print([m for m in {heavy!r} if m in sys.modules])"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]
