"""Pieces no app owns: field encryption, keyset pagination, host rules, cache helpers.

``core`` imports no app of the product (``make lint`` checks it); every app may import it.
"""
