"""A seeded model folder arrives as a zip: unpacked only inside its folder, without links."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from trainyard_servicekit.http_api import ApiError
from trainyard_servicekit.weights_api import unzip_folder


def zipped(path: Path, entries: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_a_model_folder_unpacks_with_its_subfolders(tmp_path: Path) -> None:
    archive = zipped(tmp_path / "m.zip", {"config.json": b"{}", "sub/model.safetensors": b"w"})
    (tmp_path / "out").mkdir()
    unzip_folder(archive, tmp_path / "out", max_bytes=1000)
    assert (tmp_path / "out" / "sub" / "model.safetensors").read_bytes() == b"w"


@pytest.mark.parametrize(
    ("entries", "link", "status", "words"),
    [
        ({"../escape.bin": b"x"}, None, 422, "unsafe path"),
        ({"/abs.bin": b"x"}, None, 422, "unsafe path"),
        ({"config.json": b"{}"}, "model.safetensors", 422, "link"),
        ({"big.bin": b"x" * 2000}, None, 413, "more than 1000 bytes"),
    ],
)
def test_unsafe_or_oversized_zips_are_refused(tmp_path, entries, link, status, words) -> None:
    archive = zipped(tmp_path / "m.zip", entries, link)
    (tmp_path / "out").mkdir()
    with pytest.raises(ApiError) as refused:
        unzip_folder(archive, tmp_path / "out", max_bytes=1000)
    assert refused.value.status_code == status and words in str(refused.value.detail)
    assert not (tmp_path / "escape.bin").exists()


def test_a_file_that_is_no_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.zip").write_bytes(b"not a zip")
    with pytest.raises(ApiError) as refused:
        unzip_folder(tmp_path / "m.zip", tmp_path, max_bytes=1000)
    assert refused.value.status_code == 422
