"""The lineage dashboard: server-rendered pages over the metadata store."""
