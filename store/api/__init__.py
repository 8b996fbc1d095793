"""The REST API (Django REST Framework): thin adapters over the store's core.

Views parse JSON, build the core's request messages (``store.services.api.call``)
or call a service, and shape the answer; errors are mapped to HTTP in
``store.api.errors``.  URLs: ``/api/v1/`` (resources), ``/api/schema/``
(OpenAPI 3), ``/api/docs/`` (Swagger UI).
"""
