"""Tavus REST API: the client, its typed errors and the training-error hints."""
