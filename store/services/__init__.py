"""The store's services: every write rule and every non-trivial query lives here."""
