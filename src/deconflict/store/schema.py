"""The tables of the embedded and the shared store, as SQLAlchemy Core metadata.

Plain, portable SQL types only (no JSON or array columns, no vendor extensions) so the
same schema runs on SQLite, PostgreSQL and the PostgreSQL-compatible distributed engines.
JSON documents are kept as canonical text. Changing a table means a new migration.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

PARTY = String(33)  # a party name (32) or "@operator"
DECL_ID = String(128)

WIDE = BigInteger().with_variant(Integer, "sqlite")
"""64-bit counters and ids (SQLite's INTEGER already is; on PostgreSQL, BIGINT)."""
LOG_INDEX = WIDE

engine_changes = Table(
    "engine_changes",
    metadata,
    # One row per declaration whose live version changed in a write, in commit order: how
    # a service process learns what other processes on the same store changed, to keep its
    # in-memory engine the same as the store (service/core.py, Service.catch_up).
    Column("seq", WIDE, primary_key=True, autoincrement=True),
    Column("party", String(32), nullable=False),
    Column("id", DECL_ID, nullable=False),
)

writer_lock = Table(
    "writer_lock",
    metadata,
    # One row, locked (SELECT ... FOR UPDATE) by every write transaction on a shared
    # store: the single-writer order of the record across processes and machines.
    Column("id", Integer, primary_key=True, autoincrement=False),
)

position_queue = Table(
    "position_queue",
    metadata,
    # Position batches accepted by any process, in commit order, for the one process that
    # monitors them (service/live.py, "several processes"); consumed rows go after a while.
    Column("seq", WIDE, primary_key=True, autoincrement=True),
    Column("party", String(32), nullable=False),
    Column("at_s", Float, nullable=False),
    Column("reports", Text, nullable=False),  # JSON list of the batch's reports
    # Bit p set: the batch has reports for partition p (service/live.py, "Partitions").
    Column("parts", WIDE, nullable=False, server_default="1"),
)

monitor_lease = Table(
    "monitor_lease",
    metadata,
    # One row per partition of space (id = partition + 1): which process monitors it,
    # until when, and the last batch of position_queue applied for it.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(64), nullable=True),
    Column("until_s", Float, nullable=False),
    Column("cursor", WIDE, nullable=False),
)

monitor_members = Table(
    "monitor_members",
    metadata,
    # The processes taking part in monitoring, each until its lease lapses; the partitions
    # are dealt among the live ones. `plan` is their partitioning (all must agree).
    Column("owner", String(64), primary_key=True),
    Column("until_s", Float, nullable=False),
    Column("plan", String(64), nullable=False),
)

parties = Table(
    "parties",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("created_s", Float, nullable=False),
    Column("observers", Text, nullable=False, server_default="[]"),
    # JSON list of observer parties that see every declaration of this party whole.
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("party", PARTY, nullable=False),  # "@operator" for the operator's tokens
    Column("secret_sha256", String(64), nullable=False),
    Column("created_s", Float, nullable=False),
    Column("revoked_s", Float, nullable=True),
    Column("label", String(64), nullable=False, server_default=""),
)

keys = Table(
    "keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("party", String(32), nullable=False, index=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("created_s", Float, nullable=False),
    Column("revoked_s", Float, nullable=True),
)

declarations = Table(
    "declarations",
    metadata,
    Column("party", String(32), primary_key=True),
    Column("id", DECL_ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("current", Boolean, nullable=False),
    Column("live", Boolean, nullable=False),  # current and not in a final state
    Column("feature", Text, nullable=False),  # the GeoJSON Feature as stored
    Column("shared", Boolean, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False),
    Column("late", Boolean, nullable=False),
    Column("submitted_s", Float, nullable=False),
    Column("clearance", Text, nullable=False),  # the Clearance as JSON
    Column("due_s", Float, nullable=True),  # next moment time alone may change it
    Column("etag", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=True),
    Column("key_id", String(64), nullable=True),
)
Index("ix_declarations_due", declarations.c.due_s)
Index("ix_declarations_live", declarations.c.live, declarations.c.party)

conflicts = Table(
    "conflicts",
    metadata,
    Column("conflict_id", WIDE, primary_key=True, autoincrement=True),
    Column("a_party", String(32), nullable=False),
    Column("a_id", DECL_ID, nullable=False),
    Column("b_party", String(32), nullable=False),
    Column("b_id", DECL_ID, nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("min_distance_m", Float, nullable=False),
    Column("at_lon", Float, nullable=False),
    Column("at_lat", Float, nullable=False),
)
Index("ix_conflicts_a", conflicts.c.a_party, conflicts.c.a_id)
Index("ix_conflicts_b", conflicts.c.b_party, conflicts.c.b_id)

notifications = Table(
    "notifications",
    metadata,
    Column("party", String(32), primary_key=True),  # the declaration's owner
    Column("id", DECL_ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("notified", String(32), primary_key=True),
    Column("reasons", String(64), nullable=False),
    Column("deadline_s", Float, nullable=False),
    Column("open", Boolean, nullable=False),  # awaiting this party's answer
)
Index("ix_notifications_notified", notifications.c.notified, notifications.c.open)

events = Table(
    "events",
    metadata,
    Column("seq", WIDE, primary_key=True, autoincrement=True),
    Column("recipient", PARTY, nullable=False),
    Column("type", String(32), nullable=False),
    Column("at_s", Float, nullable=False),
    Column("payload", Text, nullable=False),
)
Index("ix_events_recipient", events.c.recipient, events.c.seq)

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("sender", PARTY, nullable=False),
    Column("recipient", PARTY, nullable=False),
    Column("text", Text, nullable=False),
    Column("refs", Text, nullable=False),
    Column("sent_s", Float, nullable=False),
    Column("deadline_s", Float, nullable=False),
    Column("acked_s", Float, nullable=True),
    Column("escalated_s", Float, nullable=True),
    Column("due_s", Float, nullable=True),
    Column("signature", LargeBinary, nullable=True),
)
Index("ix_messages_recipient", messages.c.recipient)
Index("ix_messages_sender", messages.c.sender)
Index("ix_messages_due", messages.c.due_s)

webhooks = Table(
    "webhooks",
    metadata,
    Column("hook_id", String(32), primary_key=True),
    Column("party", PARTY, nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_s", Float, nullable=False),
    Column("deleted_s", Float, nullable=True),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", WIDE, primary_key=True, autoincrement=True),
    Column("hook_id", String(32), nullable=False, index=True),
    Column("event_seq", WIDE, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_s", Float, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("updated_s", Float, nullable=False),
)
Index("ix_deliveries_next", deliveries.c.status, deliveries.c.next_s)

idempotency = Table(
    "idempotency",
    metadata,
    Column("party", PARTY, primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_s", Float, nullable=False),
)

# -- the record (SPEC section 6) --------------------------------------------------------

"""A leaf index: 64-bit (SQLite's INTEGER is 64-bit and keeps rowid speed)."""

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", LOG_INDEX, primary_key=True, autoincrement=False),
    Column("at_s", Float, nullable=False),
    Column("type", String(40), nullable=False),
    Column("by", PARTY, nullable=False),
    Column("entry", LargeBinary, nullable=False),  # the canonical JSON bytes, hashed as a leaf
    # No index on at_s (dropped by migration 0010): nothing reads entries by time, and it
    # cost a B-tree insert per append.
)

log_nodes = Table(
    "log_nodes",
    metadata,
    # Complete subtree hashes: (0, i) is leaf i's hash, (k, i) covers leaves [i*2^k, (i+1)*2^k).
    # Levels 1 and 2 are not stored (migration 0010): they are computed from the leaves
    # (store/log.py, `is_stored`). `cluster` (store/log.py, `cluster`) orders the table so
    # that the hashes one proof reads lie together.
    Column("cluster", LOG_INDEX, primary_key=True, autoincrement=False),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", LOG_INDEX, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    # One B-tree on SQLite (migration 0009): a proof's ~30 reads are one search each.
    sqlite_with_rowid=False,
)

log_contents = Table(
    "log_contents",
    metadata,
    # What an entry commits to without showing: disclosed only as SPEC section 4 allows.
    Column("idx", LOG_INDEX, primary_key=True, autoincrement=False),
    Column("name", String(32), primary_key=True),
    Column("salt", LargeBinary(32), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("checkpoint_id", WIDE, primary_key=True, autoincrement=True),
    Column("tree_size", LOG_INDEX, nullable=False),
    Column("at_s", Float, nullable=False),
    Column("note", Text, nullable=False),  # the C2SP signed note, as signed
)
Index("ix_checkpoints_size", checkpoints.c.tree_size)

cosignatures = Table(
    "cosignatures",
    metadata,
    Column("checkpoint_id", WIDE, primary_key=True, autoincrement=False),
    Column("party", String(32), primary_key=True),
    Column("at_s", Float, nullable=False),
    Column("note", Text, nullable=False),  # the checkpoint with the party's signature line
)

# -- incidents (docs/record.md, "Incidents") ---------------------------------------------

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(32), primary_key=True),
    Column("filer", String(32), nullable=False),
    Column("against", String(32), nullable=False),
    Column("at_s", Float, nullable=False),  # when it happened, as the filer says
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("radius_m", Float, nullable=False),
    Column("category", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("filed_s", Float, nullable=False),
    Column("rfi_deadline_s", Float, nullable=False),  # the accused's account is due by then
    Column("answered_s", Float, nullable=True),  # the accused's first account
    Column("escalated_s", Float, nullable=True),
    Column("due_s", Float, nullable=True),  # next moment time alone may change it
    # A joint finding proposed by one party, awaiting the other's identical one.
    Column("proposed_by", String(32), nullable=True),
    Column("proposed_finding", Text, nullable=True),
    Column("proposed_outcome", String(16), nullable=True),
    # The finding, once recorded: by the operator, or by both parties jointly.
    Column("finding", Text, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("found_by", String(80), nullable=True),  # "@operator" or "A+B"
    Column("found_s", Float, nullable=True),
)
Index("ix_incidents_filer", incidents.c.filer)
Index("ix_incidents_against", incidents.c.against)
Index("ix_incidents_due", incidents.c.due_s)

incident_accounts = Table(
    "incident_accounts",
    metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), nullable=False, index=True),
    Column("party", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("at_s", Float, nullable=False),
    Column("log_index", LOG_INDEX, nullable=False),
)

incident_attachments = Table(
    "incident_attachments",
    metadata,
    Column("incident_id", String(32), primary_key=True),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

incident_evidence = Table(
    "incident_evidence",
    metadata,
    Column("incident_id", String(32), primary_key=True),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("by", String(32), nullable=False),  # who attached it
    Column("at_s", Float, nullable=False),
    Column("report", LargeBinary, nullable=False),  # report.json, the exact bytes
    Column("sha256", String(64), nullable=False),  # of `report`
    Column("checkpoint_id", WIDE, nullable=False),
    Column("tree_size", LOG_INDEX, nullable=False),
    Column("checkpoint", Text, nullable=False),  # checkpoint.txt: the signed note
    Column("log_key", Text, nullable=False),  # log-key.pub: the log's verifier key
    Column("cited", Integer, nullable=False),  # entries the report cites
    Column("log_index", LOG_INDEX, nullable=False),  # the incident.evidence entry
)

# -- live alerts (docs/live.md, "In the service") -----------------------------------------

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("parties", Text, nullable=False),  # JSON list, as in the last event
    Column("units", Text, nullable=False),  # JSON list, sorted: matches an alert found again
    Column("declarations", Text, nullable=False),  # JSON list
    Column("alert_json", Text, nullable=False),  # the last event, its SPEC section 5 line
    Column("open", Boolean, nullable=False),
    Column("opened_s", Float, nullable=False),
    Column("updated_s", Float, nullable=False),  # when the last event was stored
    Column("part", Integer, nullable=False, server_default="0"),  # partition answering for it
)
Index("ix_alerts_open", alerts.c.open, alerts.c.updated_s)
Index("ix_alerts_units", alerts.c.units, alerts.c.type)

alert_parties = Table(
    "alert_parties",
    metadata,
    # The parties of each open alert; its rows go when it closes (GET /v1/alerts).
    Column("party", String(32), primary_key=True),
    Column("alert_id", String(64), primary_key=True),
)

alert_acks = Table(
    "alert_acks",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("party", String(32), primary_key=True),
    Column("at_s", Float, nullable=False),
)
