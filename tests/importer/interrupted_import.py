"""Run ``manage.py import_mlmd`` and SIGKILL it in the middle of a batch (a test helper, run as a process).

    python tests/importer/interrupted_import.py STEP N -- IMPORT_MLMD_ARGS...

The process kills itself inside the transaction of batch N of STEP, after the
batch's rows are written and before they commit: the harshest moment (no
Python cleanup, no rollback by us; the database must drop the batch itself).
DATABASE_URL names the store.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from store.mlmd_schema import MlmdImporter

    step, number = sys.argv[1], int(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]

    def batch_written(self: MlmdImporter, current_step: str, current: int) -> None:
        if current_step == step and current == number:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    MlmdImporter.batch_written = batch_written  # type: ignore[method-assign]
    call_command("import_mlmd", *args)


if __name__ == "__main__":
    main()
