"""``leaflint server``: the Language Server Protocol over stdio, the engine in process.

Needs the ``server`` extra (pygls, lsprotocol). ``leaflint.server.server`` imports them; the
command line imports it only when ``leaflint server`` runs, so ``leaflint check`` never does.
"""
