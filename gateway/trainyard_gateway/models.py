"""The job store's tables: jobs, and the events that train.py reported for them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    framework: Mapped[str] = mapped_column(String(32))
    task: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(500))
    project: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    executor: Mapped[str | None] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    epoch: Mapped[int | None] = mapped_column(Integer)
    total_epochs: Mapped[int | None] = mapped_column(Integer)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    mlflow: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dataset_id: Mapped[str | None] = mapped_column(String(64))

    queue_reason: Mapped[str | None] = mapped_column(Text)
    service_url: Mapped[str | None] = mapped_column(String(2048))
    run_id: Mapped[str | None] = mapped_column(String(64))
    callback_token_hash: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Retries (spec.max_retries): the attempt running now, 1 for the first, and why each
    # earlier attempt was retried. The job this one resumes, if it was made to resume one.
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retries: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    resumed_from: Mapped[str | None] = mapped_column(String(64))
    # Fine-tuning: spec.init_from as asked, plus the checkpoint `uri` it resolved to.
    init_from: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set by the watchdog while the service of a running job does not answer; cleared when it does.
    service_unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Derived from the event log when events are stored, so reading a job reads one row: its
    # artifacts (each name's latest upload, in order of first upload) and, for a job early
    # stopping ended, why (from its `succeeded` status event).
    artifacts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    stopped_early: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The pretrained weights the latest run loaded (its last `weights` event).
    weights: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A succeeded job with spec.register_as: the registry version it became.
    registered: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # train, export or evaluate (spec.kind); an export's training job, and what the job found
    # (from its final status: an export's parity report).
    kind: Mapped[str] = mapped_column(String(16), default="train", server_default="train")
    source_job_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Counted up by the database itself on every change to the row (a trigger, migration
    # 0011): what the API's kept views are keyed by. Never written by the gateway.
    row_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        Index("ix_jobs_queue", "state", "framework", "priority", "created_at"),
        Index("ix_jobs_listing", "created_at", "id"),
        # The listing filtered by state or project, newest first (the cursor's order).
        Index("ix_jobs_state_listing", "state", "created_at", "id"),
        Index("ix_jobs_project_listing", "project", "created_at", "id"),
        Index("ix_jobs_kind_listing", "kind", "created_at", "id"),
        Index("ix_jobs_dataset_id", "dataset_id"),
        Index("ix_jobs_source_job_id", "source_job_id"),
    )


class JobEvent(Base):
    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),
        Index("ix_job_events_job_type_seq", "job_id", "type", "seq"),
    )


class Dataset(Base):
    """A dataset uploaded to, or registered in, object storage; jobs name it by id."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(String(2048))  # the dataset's root in object storage
    source: Mapped[str] = mapped_column(String(16))  # "upload" or "registered"
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeededWeights(Base):
    """Pretrained weights seeded into object storage (POST /v1/weights); one row per model."""

    __tablename__ = "seeded_weights"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    framework: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(500))  # the name in the tiers
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    uri: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("framework", "model", name="uq_seeded_weights_model"),)


class Webhook(Base):
    """A URL told about job events: one project's jobs, or every project's (`project` None)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    project: Mapped[str | None] = mapped_column(String(64))
    events: Mapped[list[str]] = mapped_column(JSON)
    # Kept as given: signing needs the secret itself. Returned once, when the webhook is made.
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event to send to one webhook (the outbox): written in the transaction that changed
    the job, sent later by the delivery worker, retried until delivered or out of attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # When a pending delivery may be sent next; a worker sending it moves this past its timeout.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )
