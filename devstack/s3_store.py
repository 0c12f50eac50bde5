"""The media bucket of `make run` survives a restart.

moto keeps S3 in memory, so without this a restart keeps the database rows but loses every
photo and voice note they point at. Chosen over the alternatives: LocalStack's persistence is
a paid feature, and a file-backed S3 of our own would be a second fake to keep faithful. So
moto stays the S3 the app talks to, and this component mirrors the bucket's current objects
to `<LOCAL_DATA_DIR>/s3/<bucket>/` (body plus a `.meta.json` with content type and metadata):
restored into moto at start, synced every few seconds and at stop. Deletions are mirrored
too, so an anonymised contact's files leave the disk as they leave the bucket.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import quote, unquote

SYNC_SECONDS = 3.0
META_SUFFIX = ".meta.json"


def _file_for(root: Path, key: str) -> Path:
    # Keys are the app's own (media/…, uploads/…); quoted per segment, never leaving the root.
    parts = [quote(part, safe="") for part in key.split("/")]
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"key not mirrored: {key!r}")
    return root.joinpath(*parts)


def _key_for(root: Path, path: Path) -> str:
    return "/".join(unquote(part) for part in path.relative_to(root).parts)


class S3Mirror:
    def __init__(self, s3, bucket: str, directory: Path):
        self.s3 = s3
        self.bucket = bucket
        self.root = directory / bucket
        self.index_file = directory / f"{bucket}.index.json"
        self._etags: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def restore(self) -> int:
        """Put every mirrored object back into the (empty) bucket; returns how many."""
        count = 0
        if not self.root.exists():
            return 0
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.endswith(META_SUFFIX):
                continue
            key = _key_for(self.root, path)
            meta_path = path.with_name(path.name + META_SUFFIX)
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            extra = {k: v for k, v in meta.items() if k in ("ContentType", "ContentDisposition", "Metadata") and v}
            with path.open("rb") as body:
                answer = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
            self._etags[key] = answer["ETag"]
            count += 1
        self._save_index()
        return count

    def sync(self) -> dict[str, int]:
        """Write new or changed objects to disk, remove the ones gone from the bucket."""
        with self._lock:
            seen: dict[str, str] = {}
            written = 0
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                for item in page.get("Contents", []):
                    seen[item["Key"]] = item["ETag"]
            for key, etag in seen.items():
                if self._etags.get(key) == etag:
                    continue
                try:
                    path = _file_for(self.root, key)
                except ValueError:
                    continue
                obj = self.s3.get_object(Bucket=self.bucket, Key=key)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("wb") as out:
                    for chunk in iter(lambda body=obj["Body"]: body.read(1024 * 1024), b""):
                        out.write(chunk)
                meta = {
                    "ContentType": obj.get("ContentType"),
                    "ContentDisposition": obj.get("ContentDisposition"),
                    "Metadata": obj.get("Metadata") or {},
                }
                path.with_name(path.name + META_SUFFIX).write_text(json.dumps(meta))
                self._etags[key] = etag
                written += 1
            removed = 0
            for key in set(self._etags) - set(seen):
                try:
                    path = _file_for(self.root, key)
                except ValueError:
                    continue
                path.unlink(missing_ok=True)
                path.with_name(path.name + META_SUFFIX).unlink(missing_ok=True)
                del self._etags[key]
                removed += 1
            if written or removed:
                self._save_index()
            return {"written": written, "removed": removed}

    def _save_index(self) -> None:
        self.index_file.parent.mkdir(parents=True, exist_ok=True)
        self.index_file.write_text(json.dumps(self._etags))

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(SYNC_SECONDS):
                try:
                    self.sync()
                except Exception as exc:  # noqa: BLE001 - the next round tries again
                    print(f"media mirror: sync failed: {exc}")

        self._thread = threading.Thread(target=loop, name="s3-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SYNC_SECONDS + 5)
        self.sync()  # what arrived since the last round
