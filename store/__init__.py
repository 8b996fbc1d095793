"""The ML metadata store: MLMD's data model on the Django ORM and the services over it."""
