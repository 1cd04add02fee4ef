#!/usr/bin/env python3
"""Baselines: the recipe's echo servers (docs/recipe.md), on port 0.

    python3 bench/baselines/python_echo.py serial|threading|pool [--cpu]

serial: TCPServer; threading: ThreadingTCPServer; pool: a TCPServer whose serve_forever runs
in 16 threads (the recipe's NWORKERS). --cpu hashes each line 1,000 times (sha256, chained)
before echoing it, as bench/servers/cpu-hash-handler.ts does. As the bench runs our server
with --quiet, no "Got connection from" line is printed.
"""

import hashlib
import sys
from socketserver import StreamRequestHandler, TCPServer, ThreadingTCPServer
from threading import Thread

HASH_ROUNDS = 1000
NWORKERS = 16


class EchoHandler(StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class HashingEchoHandler(StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            digest = line
            for _ in range(HASH_ROUNDS):
                digest = hashlib.sha256(digest).digest()
            self.wfile.write(line)


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else ''
    if kind not in ('serial', 'threading', 'pool'):
        print('usage: python_echo.py serial|threading|pool [--cpu]', file=sys.stderr)
        raise SystemExit(2)
    handler = HashingEchoHandler if '--cpu' in sys.argv[2:] else EchoHandler
    try:
        server_class = ThreadingTCPServer if kind == 'threading' else TCPServer
        server_class.allow_reuse_address = True
        serv = server_class(('', 0), handler)
        port = serv.server_address[1]
        if kind == 'pool':
            for n in range(NWORKERS):
                t = Thread(target=serv.serve_forever)
                t.daemon = True
                t.start()
            print(f'Multithreaded server running on port {port}', flush=True)
        else:
            print(f'Echo server running on port {port}', flush=True)
        serv.serve_forever()

    except KeyboardInterrupt:
        print("\n\nLeaving.", flush=True)
        raise SystemExit(1)


if __name__ == '__main__':
    main()
