"""MLMD's gRPC wire protocol served over the store's services.

A thin adapter.  ``servicer`` turns each RPC into ``store.services.api.call``
and maps store errors to status codes; ``server`` adds the transport concerns
(threads, message limits, health, graceful shutdown) with ``tls`` and ``auth``
(bearer token); ``config`` reads MLMD's server config and ``connection`` opens
the database it names; ``probe`` waits for a server to report SERVING.
"""
