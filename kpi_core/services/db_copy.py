"""Use case: copy a whole workbench database into a new one (a DuckDB file to a PostgreSQL server and back)."""
from __future__ import annotations

from kpi_core.adapters.store import CopySchemaDiffers, Store


def copy_database(source: Store, target: Store) -> dict[str, int]:
    """Copy every table of `source` into `target` exactly (ids, versions, history, audit log), in one transaction
    on the target, which must be freshly initialised at the same schema version. Returns rows copied per table."""
    if source.schema_version() != target.schema_version():
        raise CopySchemaDiffers(source=source.location, target=target.location,
                                source_version=source.schema_version(), target_version=target.schema_version())
    return target.load_tables(source.dump_tables(), source=source.location)
