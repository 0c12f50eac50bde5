"""Thumbnail and streaming costs of the media pipeline.

1. A 12 MP JPEG → 320 px WebP thumbnail the way the worker does it (draft mode: libjpeg decodes at
   1/8 scale), next to a full-decode baseline (decode all 12 MP, then shrink): median time and peak
   memory of each, and their ratio.
2. Streaming a 100 MB document from the fake Graph API into S3 (moto's server in another process)
   through `media_storage.upload_stream`: peak memory.

Pillow allocates pixels in C, where tracemalloc does not look, so memory is the process's peak
resident set (VmHWM) above what it was before the work; every measurement runs in a fresh
interpreter so one cannot inherit another's freed memory. Python-level allocations
(tracemalloc) are printed for the streaming case too.

Run: .venv/bin/python bench/thumbnail.py   (about 30 s)
"""

from __future__ import annotations

import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = 7
MB = 1024 * 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> int:
    """Reset VmHWM to the current RSS (Linux clear_refs "5"); returns the RSS in KB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def photo_12mp() -> bytes:
    from tests.media_images import big_jpeg

    return big_jpeg(4000, 3000, quality=90)


def full_decode_thumbnail(data: bytes) -> bytes:
    """Baseline: what naive code does, decoding every pixel first."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        oriented = ImageOps.exif_transpose(im)
        oriented.thumbnail((320, 320), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        oriented.save(out, "WEBP", quality=80, method=4)
        return out.getvalue()


def draft_thumbnail(data: bytes) -> bytes:
    from chalicelib.services.thumbnails import make_thumbnail

    return make_thumbnail(data, max_px=320).data


def measure(mode: str, path: str) -> dict:
    """Child process: time RUNS thumbnails (after a warm-up) and the peak RSS of one."""
    data = Path(path).read_bytes()
    fn = draft_thumbnail if mode == "draft" else full_decode_thumbnail
    import PIL.Image  # noqa: F401 - import cost is not part of the measurement

    base = _reset_peak()
    fn(data)  # the first call: its peak is the memory measurement
    peak_kb = _status_kb("VmHWM") - base
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "peak_mb": peak_kb / 1024}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_stream(size_mb: int) -> dict:
    """Child process: stream `size_mb` MB from the fake Graph API into moto's S3 (another process)."""
    import tracemalloc

    import boto3

    from chalicelib.config import reset_settings
    from chalicelib.services import media_storage, media_urls
    from chalicelib.whatsapp.graph import GraphClient
    from devstack.fake_graph import FakeGraph

    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp = tempfile.NamedTemporaryFile(suffix=".pdf", delete=False)  # noqa: SIM115 - removed below
    try:
        with tmp:
            # Exactly `size_mb` MB, so 100 MB is WhatsApp's document limit itself, not above it.
            header = b"%PDF-1.7\n"
            tmp.write(header)
            block = os.urandom(MB)
            for _ in range(size_mb - 1):
                tmp.write(block)
            tmp.write(block[: MB - len(header)])
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        reset_settings()
        media_urls.reset_clients()
        boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="bench")
        with FakeGraph(access_token="bench") as graph:
            media = graph.add_media(path=tmp.name, mime_type="application/pdf")
            client = GraphClient(graph.base_url, "bench", "1", "2")
            media_storage.s3_client()  # client creation is not part of the measurement
            base = _reset_peak()
            tracemalloc.start()
            start = time.perf_counter()
            meta = client.get_media(media.media_id)
            with client.open_media_stream(meta["url"]) as response:
                stored = media_storage.upload_stream(
                    response.iter_content(64 * 1024),
                    bucket="bench",
                    key="bench/doc.pdf",
                    content_type="application/pdf",
                    limit=media_storage.size_limit("document"),
                    expected_sha256=meta["sha256"],
                )
            elapsed = time.perf_counter() - start
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss_peak_kb = _status_kb("VmHWM") - base
        return {
            "size_mb": stored.size / MB,
            "seconds": elapsed,
            "rss_peak_mb": rss_peak_kb / 1024,
            "traced_peak_mb": traced_peak / MB,
        }
    finally:
        moto.terminate()
        moto.wait(timeout=10)
        os.unlink(tmp.name)


def _child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True, cwd=ROOT, timeout=600
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as handle:
        data = photo_12mp()
        handle.write(data)
    try:
        draft = _child("--measure", "draft", handle.name)
        full = _child("--measure", "full", handle.name)
    finally:
        os.unlink(handle.name)
    print(f"12 MP JPEG ({len(data) / MB:.1f} MB, 4000x3000) → 320 px WebP, median of {RUNS}:")
    print(f"  draft mode (worker)  {draft['median_s'] * 1000:7.1f} ms   peak {draft['peak_mb']:6.1f} MB")
    print(f"  full decode          {full['median_s'] * 1000:7.1f} ms   peak {full['peak_mb']:6.1f} MB")
    print(
        f"  ratio full/draft     {full['median_s'] / draft['median_s']:7.1f}x time "
        f"  {full['peak_mb'] / max(draft['peak_mb'], 0.1):5.1f}x memory"
    )
    stream = _child("--stream", "100")
    print(
        f"streaming a {stream['size_mb']:.0f} MB document into S3 (multipart, 5 MB parts): "
        f"{stream['seconds']:.1f} s, peak RSS +{stream['rss_peak_mb']:.1f} MB, "
        f"Python allocations peak {stream['traced_peak_mb']:.1f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--stream":
        print(json.dumps(measure_stream(int(sys.argv[2]))))
    else:
        main()
