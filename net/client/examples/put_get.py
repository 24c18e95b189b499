#!/usr/bin/env python3
"""Writes a value to Shoal and reads it back, speaking the wire protocol
directly (docs/protocol.md). Usage: put_get.py HOST:PORT (a node's client port)."""
import sys

import msgpack
import zmq

VERSION, GET, PUT, ERROR, REPLY_BIT = 1, 2, 3, 127, 0x40
KEY = [b"default", b"examples", b"put_get"]  # bucket type, bucket, key
VALUE = b"hello from python"
TIMEOUT_MS = 5000


def call(sock, request_id, msg_type, *body):
    """Sends [version, type, request_id, body...] and returns the reply's body."""
    sock.send(msgpack.packb([VERSION, msg_type, request_id, *body], use_bin_type=True))
    if not sock.poll(TIMEOUT_MS):
        sys.exit(f"no reply to request {request_id} within {TIMEOUT_MS} ms")
    _version, reply_type, reply_id, *reply = msgpack.unpackb(sock.recv())
    if reply_type == ERROR:
        message = reply[1].decode(errors="replace")
        sys.exit(f"request {request_id} failed: error {reply[0]}: {message}")
    if reply_type != msg_type | REPLY_BIT or reply_id != request_id:
        sys.exit(f"unexpected reply type {reply_type} to request {reply_id}")
    return reply


if len(sys.argv) != 2:
    sys.exit("usage: put_get.py HOST:PORT")
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
sock.connect(f"tcp://{sys.argv[1]}")
options = {"timeout_ms": 4000}  # the node gives up before this program does
# get body: [bucket_type, bucket, key, options]
# reply body: [found, datatype, siblings, value, context, expires_at]
context = call(sock, 1, GET, *KEY, options)[4]
# put body: [bucket_type, bucket, key, value, content_type, user_metadata, context, options].
# Sending the context just read makes this put replace every sibling that read saw.
call(sock, 2, PUT, *KEY, VALUE, b"text/plain", [], context, options)
found, _datatype, siblings, _value, _context, _expires = call(sock, 3, GET, *KEY, options)
# a sibling: [value, content_type, user_metadata, last_modified_us, deleted]
values = [sibling[0] for sibling in siblings]
print(values[0].decode(errors="replace") if values else "(not found)")
if not found or values != [VALUE]:
    sys.exit(f"expected [{VALUE!r}], read {values!r}")
