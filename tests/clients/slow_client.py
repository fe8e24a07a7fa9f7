#!/usr/bin/env python3
"""Slow HTTP clients against the web view (tests/web.rs runs this).

usage: slow_client.py HOST PORT CLIENTS SECONDS TOKEN

Opens CLIENTS connections that trickle a request head one byte every 0.5 s (a slowloris)
and one that requests the MJPEG stream (with TOKEN) but never reads it; a normal client tries
/api/latest meanwhile. Then fills the slots with CLIENTS more unread streams and polls until
the server answers again. Prints one JSON object: each slow client's status and after how
long, the normal client's status during the attack, with the slots refilled, and at the end,
and how long the unread streams held their slots.
"""
import json
import socket
import sys
import threading
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
token = sys.argv[5]
REQUEST = b"GET /api/latest HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"


def status_of(data):
    try:
        return int(data.split(b" ")[1])
    except (IndexError, ValueError):
        return 0


def slow(i, out):
    s = socket.create_connection((host, port))
    s.settimeout(seconds + 10)
    start = time.monotonic()
    got = b""
    try:
        for b in REQUEST:
            s.sendall(bytes([b]))
            time.sleep(0.5)
            s.setblocking(False)
            try:
                got += s.recv(4096)
            except BlockingIOError:
                pass
            s.setblocking(True)
            if got or time.monotonic() - start > seconds + 5:
                break
        s.settimeout(5)
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError as e:  # reset by the server is an answer too
        got = got or f"error {e}".encode()
    out[i] = {"status": status_of(got), "after_s": round(time.monotonic() - start, 2)}
    s.close()


def normal():
    s = socket.create_connection((host, port))
    s.settimeout(10)
    s.sendall(b"GET /api/latest HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    return status_of(data)


def unread_stream():
    """Asks for the stream and never reads it: the server must give up on it once its socket
    buffer is full and a write has waited out the timeout."""
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
              .encode())
    return s


held = [unread_stream()]
results = {}
threads = [threading.Thread(target=slow, args=(i, results)) for i in range(n)]
for t in threads:
    t.start()
time.sleep(1.0)
during = normal()
for t in threads:
    t.join()
# The slow clients are gone; fill the slots with streams nobody reads.
held += [unread_stream() for _ in range(n)]
time.sleep(0.5)
refilled = normal()
start = time.monotonic()
after = 503
while time.monotonic() - start < 60:
    after = normal()
    if after != 503:
        break
    time.sleep(1.0)
dropped_after = round(time.monotonic() - start, 1)
for h in held:
    h.close()
print(json.dumps({
    "slow": [results[i] for i in range(n)],
    "normal_during": during,
    "normal_refilled": refilled,
    "normal_after": after,
    "unread_streams_dropped_after_s": dropped_after,
}))
