"""The schema's migrations, in order: `NNNN_what_it_does.py`, each with
`async def upgrade(conn, dialect)`; `models.migrate` finds and applies them (docs/migrations.md)."""
