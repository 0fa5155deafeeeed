"""privacy: sealed audit events cannot be changed or deleted

Revision ID: 0003_privacy
Revises: 0001_core

A trigger refuses UPDATE and DELETE of an audit event once `seal_chain` has given it a hash
(unsealed rows must still be updatable, by the sealer itself). TRUNCATE is not a row operation
and stays possible for whoever owns the database (test resets, a deliberate wipe).
"""

from __future__ import annotations

from alembic import op

revision = "0003_privacy"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_sealed_guard() RETURNS trigger AS $$
BEGIN
    IF OLD.hash <> '' THEN
        RAISE EXCEPTION 'audit event % is sealed: the audit log is append-only', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_sealed_guard BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_sealed_guard()"
        )
    else:
        for op_name in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_sealed_no_{op_name.lower()} BEFORE {op_name} "
                "ON audit_events FOR EACH ROW WHEN OLD.hash <> '' "
                "BEGIN SELECT RAISE(ABORT, 'audit event is sealed: the audit log is append-only'); "
                "END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_sealed_guard ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_sealed_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_sealed_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_sealed_no_delete")
