"""Storage in an S3 bucket (`s3://bucket/prefix`): AWS, MinIO, R2, SeaweedFS, ….

Configured by the standard AWS variables, read when the storage is created:
AWS_ENDPOINT_URL (unset: AWS itself), AWS_DEFAULT_REGION (us-east-1), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (unset: boto3's own chain of profiles and roles).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from trainyard_runtime.storage.base import (
    ObjectInfo,
    Storage,
    StorageError,
    StoredObject,
    check_key,
    sha256_file,
)

MiB = 1 << 20
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the SigV4 limit
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)
_NO_CREDENTIALS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
)
_FAILURES = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    boto3.exceptions.Boto3Error,
)


class S3StorageError(StorageError):
    """An S3 call failed after botocore's retries; the message says what to check."""


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        environ: Mapping[str, str] | None = None,
        max_attempts: int = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        multipart_threshold: int = 64 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 8,
    ) -> None:
        """`environ` replaces os.environ (tests); `max_attempts` counts the first try too;
        uploads above `multipart_threshold` go in `multipart_chunksize` parts,
        `max_concurrency` at a time."""
        env = os.environ if environ is None else environ
        if not bucket:
            raise ValueError("S3 storage needs a bucket: s3://<bucket>/<prefix>")
        if multipart_chunksize < 5 * MiB:
            raise ValueError("multipart_chunksize must be at least 5 MiB (the S3 minimum part)")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.root_uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.endpoint_url = env.get("AWS_ENDPOINT_URL") or None
        self.region = env.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.max_attempts = max_attempts
        config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, max_concurrency),
            signature_version="s3v4",
            # Other S3 servers: bucket in the path (no wildcard DNS) and no checksums beyond
            # what S3 requires (boto3's newer default trailers are not understood everywhere).
            s3={"addressing_style": "path"} if self.endpoint_url else None,
            request_checksum_calculation="when_required" if self.endpoint_url else None,
            response_checksum_validation="when_required" if self.endpoint_url else None,
        )
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            region_name=self.region,
        )
        self.client: Any = session.client("s3", endpoint_url=self.endpoint_url, config=config)
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        self._bucket_seen = False

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> S3Storage:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or parsed.query or parsed.fragment:
            raise ValueError(f"S3 storage URI must look like s3://<bucket>/<prefix>, got {uri!r}")
        return cls(parsed.netloc, parsed.path, **options)

    def close(self) -> None:
        self.client.close()

    # --- keys and errors -------------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self) -> str:
        return self.endpoint_url or f"AWS S3 in {self.region}"

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore's failures into ones that say what to check; missing objects stay
        FileNotFoundError, as with local storage."""
        try:
            yield
        except _FAILURES as exc:
            raise self._explain(action, key, exc) from exc

    def _explain(self, action: str, key: str | None, exc: BaseException) -> Exception:
        target = f"s3://{self.bucket}/{self._full(key)}" if key else f"bucket {self.bucket!r}"
        head = f"S3 {action} of {target} at {self._where()} failed"
        if isinstance(exc, _UNREACHABLE):
            return S3StorageError(
                f"{head}: endpoint unreachable after {self.max_attempts} attempts ({exc}); "
                "check AWS_ENDPOINT_URL and that the server is up and reachable"
            )
        if isinstance(exc, _NO_CREDENTIALS):
            return S3StorageError(
                f"{head}: no usable credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        code = _error_code(exc)
        if code == "NoSuchBucket" or (code in ("404", "NotFound") and not self._bucket_exists()):
            return S3StorageError(
                f"{head}: bucket {self.bucket!r} does not exist; create it or fix the bucket "
                "in the storage URI (s3://<bucket>/<prefix>)"
            )
        if code in ("NoSuchKey", "404", "NotFound") and key:
            return FileNotFoundError(f"no object {self.uri_for(key)}")
        if code in _DENIED:
            return S3StorageError(
                f"{head}: access denied ({code}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
                f"and that this key may read and write bucket {self.bucket!r}"
            )
        return S3StorageError(f"{head}: {exc}")

    def _bucket_exists(self) -> bool:
        """HEAD answers a bare 404 for a missing object and for a missing bucket alike."""
        if not self._bucket_seen:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError as exc:
                if _error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                    return False
            except _FAILURES:
                pass  # not known to be missing: report the object as missing
            else:
                self._bucket_seen = True
        return True

    def _head(self, key: str) -> dict[str, Any]:
        with self._errors("HEAD", key):
            return cast(
                dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            )

    # --- the Storage interface ---------------------------------------------------------------

    def put_file(self, local: Path, key: str) -> StoredObject:
        full = self._full(key)
        before = local.stat()
        # The checksum goes into the object's metadata, which S3 takes when the upload starts:
        # so it is computed first (one fast local read), and checked against a change after.
        digest = sha256_file(local)
        with self._errors("upload", key):
            self.client.upload_file(
                str(local),
                self.bucket,
                full,
                ExtraArgs={"Metadata": {"sha256": digest}},
                Config=self.transfer,
            )
        after = local.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            self.delete(key)
            raise S3StorageError(f"{local} changed while it was uploaded to {self.uri_for(key)}")
        return StoredObject(key, self.uri_for(key), before.st_size, digest)

    def get_file(self, key: str, local: Path) -> Path:
        expected = self._head(key).get("Metadata", {}).get("sha256")
        local.parent.mkdir(parents=True, exist_ok=True)
        # Download to a temporary name beside the target, then rename: no half file at `local`.
        fd, name = tempfile.mkstemp(dir=local.parent, prefix=".download-")
        os.close(fd)
        tmp = Path(name)
        try:
            with self._errors("download", key):
                self.client.download_file(self.bucket, self._full(key), name, Config=self.transfer)
            if expected and sha256_file(tmp) != expected:
                raise S3StorageError(
                    f"{self.uri_for(key)} does not match its sha256 metadata: it changed during "
                    "the download or is corrupt; try again"
                )
            os.replace(tmp, local)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return local

    def open_read(self, key: str) -> BinaryIO:
        """A streaming body; the caller closes it (it holds a connection until then)."""
        with self._errors("GET", key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        return cast(BinaryIO, response["Body"])

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        root = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root + prefix
        )
        with self._errors("list"):
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(root) :]
                    yield ObjectInfo(key, int(item["Size"]), item["ETag"].strip('"'))

    def delete(self, key: str) -> None:
        with self._errors("DELETE", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def presigned_url(self, key: str, expires_seconds: int = 3600) -> str | None:
        if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_seconds must be 1…{MAX_PRESIGN_SECONDS}")
        with self._errors("presign", key):
            return cast(
                str,
                self.client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": self._full(key)},
                    ExpiresIn=expires_seconds,
                ),
            )


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code, also from under boto3's S3UploadFailedError (which wraps it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, botocore.exceptions.ClientError):
            return str(seen.response.get("Error", {}).get("Code"))
        seen = seen.__cause__ or seen.__context__
    return None
