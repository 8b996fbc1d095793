"""Writers that are the real ml-metadata 1.17.1 client, for the reliability tests.

``put_executions.py`` and ``race.py`` run under ``.venv-mlmd/bin/python``
(ml-metadata needs protobuf<5, this project's venv has protobuf 7): they import
``ml_metadata`` only, never Django or this project.  ``harness`` is the
pytest side: it starts them, releases them together and checks what the store
holds afterwards.
"""
