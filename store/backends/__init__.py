"""Database backends of the store (see ``mysql``)."""
