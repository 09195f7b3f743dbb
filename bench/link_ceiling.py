#!/usr/bin/env python3
"""One TCP stream for bench/link_ceiling.sh: `server` receives on port 23456 until the peer
closes and prints the rate from the first byte; `client ADDR` sends 64 x 4 MiB."""

import socket
import sys
import time

PORT = 23456


def server():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", PORT))
    listener.listen(1)
    conn, peer = listener.accept()
    buffer = bytearray(4 << 20)
    total, start = 0, None
    while True:
        n = conn.recv_into(buffer)
        if not n:
            break
        start = start or time.time()
        total += n
    print(f"from {peer[0]}: {total / 1e6:.0f} MB at {total / (time.time() - start) / 1e6:.1f} MB/s")


def client(address):
    conn = socket.create_connection((address, PORT))
    data = bytes(4 << 20)
    for _ in range(64):
        conn.sendall(data)
    conn.close()


if __name__ == "__main__":
    server() if sys.argv[1] == "server" else client(sys.argv[2])
