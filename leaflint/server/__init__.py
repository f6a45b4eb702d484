"""``leaflint server``: the Language Server Protocol over stdio, the engine in process.

Needs the ``server`` extra (pygls, lsprotocol); nothing here imports them until ``main`` runs,
so ``leaflint check`` never pays for them."""

from __future__ import annotations


def main() -> None:
    from leaflint.server.server import serve

    serve()
