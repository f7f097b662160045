import pytest

from trainyard_runtime.storage import StorageError, UnsafeKeyError, open_storage
from trainyard_runtime.storage.base import sha256_file
from trainyard_runtime.storage.layout import checkpoint_key


@pytest.fixture
def storage(tmp_path):
    return open_storage((tmp_path / "store").as_uri())


def test_put_get_list_delete(tmp_path, storage):
    source = tmp_path / "best.pt"
    source.write_bytes(b"weights" * 1000)
    key = checkpoint_key("vision", "job-1", "best.pt")
    stored = storage.put_file(source, key)
    assert stored.key == "checkpoints/projects/vision/jobs/job-1/best.pt"
    assert stored.size == 7000 and stored.sha256 == sha256_file(source)
    assert storage.key_for(stored.uri) == key
    assert [o.key for o in storage.list_objects("checkpoints/")] == [key]
    copy = storage.get_file(key, tmp_path / "copy.pt")
    assert copy.read_bytes() == source.read_bytes()
    storage.delete(key)
    assert not storage.exists(key)


@pytest.mark.parametrize(
    "key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "a/./b", "a\\b", "", "dir/"]
)
def test_keys_that_could_escape_are_refused(storage, key):
    with pytest.raises(UnsafeKeyError):
        storage.exists(key)


def test_symlink_out_of_the_root_is_refused(tmp_path, storage):
    (tmp_path / "outside").mkdir()
    (storage.root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError, match="outside the storage root"):
        storage.exists("link/file")


def test_uri_from_elsewhere_is_refused(storage):
    with pytest.raises(UnsafeKeyError):
        storage.key_for("file:///etc/passwd")


def test_unknown_scheme_lists_the_supported_ones():
    with pytest.raises(ValueError, match=r"allowed: file://"):
        open_storage("gs://bucket/prefix")


def test_a_folder_that_cannot_take_the_file_is_a_storage_error(tmp_path, storage):
    source = tmp_path / "best.pt"
    source.write_bytes(b"weights")
    # A file where the key needs a folder: the write fails as a full or read-only disk would.
    (storage.root / "checkpoints").write_bytes(b"in the way")
    with pytest.raises(StorageError, match=r"could not write checkpoints/x/best\.pt"):
        storage.put_file(source, "checkpoints/x/best.pt")


def test_a_missing_file_to_store_is_not_a_storage_error(tmp_path, storage):
    with pytest.raises(FileNotFoundError):
        storage.put_file(tmp_path / "never-written.pt", "checkpoints/x/best.pt")
