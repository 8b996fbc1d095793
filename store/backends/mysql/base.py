"""Django's MySQL/MariaDB backend, adjusted for the store.

Case-insensitive lookups stay case-insensitive.  The store's tables use a
binary collation on MySQL (migration 0002), so that MLMD's names compare
exactly, as on SQLite.  Django's MySQL backend writes ``iexact``,
``icontains``, ``istartswith`` and ``iendswith`` as a plain ``LIKE`` and leaves
ignoring case to the column's collation; on a binary column they would
silently turn case-sensitive (the admin's search boxes, the dashboard's
search).  Here the pattern carries an explicit case-insensitive collation,
which takes precedence over the column's.

Recursive queries are not cut short.  The lineage walk is one recursive
query whose depth is the length of the longest path walked (a 10,000-step
pipeline chain is 20,000 levels).  MySQL stops such a query with an error
after ``cte_max_recursion_depth`` levels (1,000 by default); MariaDB silently
returns what it found within ``max_recursive_iterations`` (1,000 by default),
a truncated lineage.  Each connection lifts the limit: the walk's UNION visits
every node once, so it ends on its own.

Everything else is Django's backend.
"""
from __future__ import annotations

from django.db.backends.mysql import base

# Present on every MySQL (5.5+) and MariaDB server; ignores case (and accents, as
# a case-insensitive default collation does) for the i-lookups only.
CASE_INSENSITIVE_COLLATION = "utf8mb4_unicode_ci"
_CI = f" COLLATE {CASE_INSENSITIVE_COLLATION}"

# The largest value both servers accept for their recursion limit.
UNLIMITED_RECURSION = 4294967295


class DatabaseWrapper(base.DatabaseWrapper):
    operators = {
        **base.DatabaseWrapper.operators,
        "iexact": "LIKE %s" + _CI,
        "icontains": "LIKE %s" + _CI,
        "istartswith": "LIKE %s" + _CI,
        "iendswith": "LIKE %s" + _CI,
    }
    pattern_ops = {
        **base.DatabaseWrapper.pattern_ops,
        "icontains": "LIKE CONCAT('%%', {}, '%%')" + _CI,
        "istartswith": "LIKE CONCAT({}, '%%')" + _CI,
        "iendswith": "LIKE CONCAT('%%', {})" + _CI,
    }

    def init_connection_state(self) -> None:
        super().init_connection_state()
        # From the handshake: no query, and no second connection as mysql_is_mariadb would open.
        mariadb = "mariadb" in self.connection.get_server_info().lower()
        variable = "max_recursive_iterations" if mariadb else "cte_max_recursion_depth"
        with self.cursor() as cursor:
            cursor.execute(f"SET SESSION {variable} = {UNLIMITED_RECURSION}")
