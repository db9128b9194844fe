"""A full disk under the documentation uploads: a real, small filesystem (tmpfs of 256 KB) mounted
where uploads are kept. An upload that does not fit, or that meets a disk already full, is
refused with 507 storage_full, leaves no file (not even part of one) and no document; once space
is free, uploads work again without a restart."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SIZE_KB = 256


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/uploads (where the app keeps uploads: var_dir/uploads) on a tmpfs of SIZE_KB."""
    where = tmp_path / "uploads"
    where.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k,mode=700", "tmpfs", str(where)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the full-disk test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): "
                           f"mount failed: {out.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_uploads_on_a_full_disk_are_refused_whole_and_work_again_once_space_is_free(
        make_client: Any, small_disk: Path):
    client = await make_client(auth_mode="local")
    assert client.app.state.ctx.settings.var_dir / "uploads" == small_disk
    r = await client.post("/product/create", json={"name": "Heat pump"})
    assert r.status_code == 200, r.text
    product = r.json()["_id"]

    async def upload(name: str, data: bytes) -> Any:
        return await client.post("/api/knowledge/upload", data={"product_id": product},
                                 files={"file": (name, data, "text/markdown")})

    async def documents() -> list[dict[str, Any]]:
        r = await client.get("/api/knowledge/documents")
        assert r.status_code == 200, r.text
        assert int(r.headers["X-Total-Count"]) == len(r.json())
        docs: list[dict[str, Any]] = r.json()
        return docs

    def refused_for_space(r: Any) -> None:
        assert r.status_code == 507, r.text
        error = r.json()["error"]
        assert error["code"] == "storage_full" and "storage is full" in error["message"], error
        assert error["fields"] == [{"field": "file", "message": "no space left to store it"}]

    # Larger than the whole disk: the write fails part way; the part written is removed.
    big = b"# Installation\n\n" + b"Mount the unit on a level pad.\n" * (SIZE_KB * 1024 * 2 // 31)
    refused_for_space(await upload("manual.md", big))
    assert _files(small_disk) == [] and await documents() == []

    # A disk already full: even a small file is refused, and nothing of it is kept.
    filler = small_disk / "filler"
    with pytest.raises(OSError, match="No space left"), filler.open("wb") as f:
        f.write(b"\0" * SIZE_KB * 1024 * 2)
    refused_for_space(await upload("notes.md", b"# Notes\n\nService every spring.\n"))
    assert _files(small_disk) == [filler] and await documents() == []

    # Space freed: the same app takes the upload (the first one's partial file would not have let it).
    filler.unlink()
    notes = b"# Notes\n\nService every spring.\n" * 4000  # 124 KB: about half the disk
    r = await upload("notes.md", notes)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert [d["_id"] for d in await documents()] == [doc["_id"]]
    kept = _files(small_disk)
    assert len(kept) == 1 and kept[0].name == doc["_id"] and kept[0].read_bytes() == notes
