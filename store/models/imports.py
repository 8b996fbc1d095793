"""Imports of ml-metadata databases: how far each got, and where remapped rows went.

``manage.py import_mlmd`` copies a source database in batches, each in its own
transaction.  The batch's rows and the advance of ``MlmdImport.progress`` are
committed together, so after an interruption (Ctrl-C, SIGKILL, a lost
connection) the record says exactly which source rows are in the store, and
``--resume`` continues after them without copying any row twice.
"""
from __future__ import annotations

from django.db import models


class MlmdImport(models.Model):
    """One import of an ml-metadata database into this store.

    ``source_key`` identifies the source (a hash of its resolved path or of
    host/port/database), so that a second import of the same source is
    recognised.  ``bounds`` holds each source table's largest id and row count
    when the import started: only rows up to those ids are copied (rows written
    to the source later belong to no import), and a resume refuses a source
    whose rows up to the bounds changed.  ``progress`` is
    ``{step: last source key copied}``; ``preserve_ids`` is decided once, at the
    start (an empty store keeps the source's ids).  ``batches`` is an optimistic
    lock: a batch commits only if no other process committed one since this
    process last looked, so two ``--resume`` runs can never both copy a batch.
    """

    source = models.CharField(max_length=1024, help_text="The source as given, without any password.")
    source_key = models.CharField(max_length=64, db_index=True)
    schema_version = models.PositiveIntegerField()
    preserve_ids = models.BooleanField()
    bounds = models.JSONField(default=dict)
    progress = models.JSONField(default=dict)
    batches = models.PositiveIntegerField(
        default=0, help_text="Batches committed so far; each batch's commit checks and advances it."
    )
    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(blank=True, null=True)
    report = models.JSONField(blank=True, null=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "ml-metadata import"

    def __str__(self) -> str:
        state = "finished" if self.finished else "unfinished"
        return f"import of {self.source} ({state})"


class MlmdImportId(models.Model):
    """Where one source row went when the import could not keep its id (a non-empty store)."""

    TYPE = 1
    ARTIFACT = 2
    EXECUTION = 3
    CONTEXT = 4
    EVENT = 5
    ATTRIBUTION = 6
    ASSOCIATION = 7
    ENTITY_CHOICES = [
        (TYPE, "type"),
        (ARTIFACT, "artifact"),
        (EXECUTION, "execution"),
        (CONTEXT, "context"),
        (EVENT, "event"),
        (ATTRIBUTION, "attribution"),
        (ASSOCIATION, "association"),
    ]

    run = models.ForeignKey(MlmdImport, on_delete=models.CASCADE, related_name="ids")
    entity = models.PositiveSmallIntegerField(choices=ENTITY_CHOICES)
    source_id = models.BigIntegerField()
    target_id = models.BigIntegerField()

    class Meta:
        verbose_name = "ml-metadata import id"
        constraints = [
            models.UniqueConstraint(fields=["run", "entity", "source_id"], name="mlmdimportid_unique_source"),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_display()} {self.source_id} → {self.target_id}"
