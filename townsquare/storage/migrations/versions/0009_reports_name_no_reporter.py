"""moderation: a user's report no longer names the reporter in the case's reasons

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 19:00:00.000000

A case's reasons are shown to the post's author (their export) and outlive the reporter's deletion;
"reported by @handle" becomes "reported by a user". Who reported stays in the reporter's own
interactions (kind ``report``), which go with them.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ANONYMOUS = "reported by a user"


def upgrade() -> None:
    conn = op.get_bind()
    cases = sa.table("moderation_cases", sa.column("id", sa.BigInteger), sa.column("reasons", sa.JSON))
    for case_id, reasons in conn.execute(sa.select(cases.c.id, cases.c.reasons)).all():
        reasons = json.loads(reasons) if isinstance(reasons, str) else reasons
        named = [r for r in reasons or [] if r.get("classifier") == "user_reports"
                 and str(r.get("why", "")).startswith("reported by @")]
        if named:
            for reason in named:
                reason["why"] = ANONYMOUS
            conn.execute(sa.update(cases).where(cases.c.id == case_id).values(reasons=reasons))


def downgrade() -> None:
    pass  # the names are gone on purpose
