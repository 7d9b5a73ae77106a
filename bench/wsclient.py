#!/usr/bin/env python3
"""Raw-socket WebSocket load clients for bench/run.sh (standard library only).

Subcommands:
  ports N                          print N currently free TCP ports on 127.0.0.1
  idle --port P --pid PID -n N [--offer EXT [--message]]
                                   open N idle WebSocket connections to 127.0.0.1:P and print
                                   "before_kib after_kib per_conn_kib" from PID's VmRSS; with
                                   --offer, send that Sec-WebSocket-Extensions (permessage-deflate)
                                   and with --message exchange one (compressed, with --offer)
                                   text message of 6 KiB on each connection first
  connrate --port P --count N --procs K
                                   N x (handshake, masked Close, read Close reply, close) spread
                                   over K processes; print "connections_per_second"
Errors go to stderr and give exit status 1.
"""
import argparse
import base64
import hashlib
import os
import random
import socket
import struct
import sys
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BenchError(Exception):
    """A failure worth one line on stderr."""


def free_ports(n):
    """Return n distinct ports that were free on 127.0.0.1 a moment ago.

    They are taken from 20000-32767, below Linux's default ephemeral range, so that the many
    client connections of a run cannot grab them between this check and the server's bind.
    """
    rng = random.SystemRandom()
    socks = []
    try:
        for _ in range(200 * n):
            if len(socks) == n:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", rng.randrange(20000, 32768)))
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < n:
            raise BenchError("found only %d free ports" % len(socks))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def recv_exact(sock, buf, n):
    """Return (first n bytes, rest), reading from sock as needed."""
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("connection closed by server mid-frame")
        buf += chunk
    return buf[:n], buf[n:]


def handshake(port, timeout=10.0, offer=None):
    """Connect and do an RFC 6455 client handshake (offering the `offer` extensions); return
    (socket, bytes read past the 101)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16))
        req = (
            b"GET / HTTP/1.1\r\n"
            b"Host: 127.0.0.1:" + str(port).encode() + b"\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\n"
            + (b"Sec-WebSocket-Extensions: " + offer.encode() + b"\r\n" if offer else b"")
            + b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise BenchError("server closed the connection during the handshake")
            buf += chunk
            if len(buf) > 65536:
                raise BenchError("handshake response too long")
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ")
        if len(status) < 2 or status[1] != b"101":
            raise BenchError("expected 101, got %r" % lines[0])
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"sec-websocket-accept") != accept:
            raise BenchError("bad Sec-WebSocket-Accept %r" % headers.get(b"sec-websocket-accept"))
        return sock, rest
    except BaseException:
        sock.close()
        raise


def close_frame():
    """A masked Close frame with status 1000."""
    mask = os.urandom(4)
    payload = struct.pack("!H", 1000)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x88, 0x80 | len(payload)]) + mask + masked


def read_until_close(sock, buf):
    """Read frames until a Close frame arrives; other frames are skipped."""
    while True:
        hdr, buf = recv_exact(sock, buf, 2)
        opcode = hdr[0] & 0x0F
        length = hdr[1] & 0x7F
        if length == 126:
            ext, buf = recv_exact(sock, buf, 2)
            length = struct.unpack("!H", ext)[0]
        elif length == 127:
            ext, buf = recv_exact(sock, buf, 8)
            length = struct.unpack("!Q", ext)[0]
        if hdr[1] & 0x80:
            _, buf = recv_exact(sock, buf, 4)
        _, buf = recv_exact(sock, buf, length)
        if opcode == 0x8:
            return


def text_message(text, deflate):
    """A masked text frame; with `deflate`, compressed (RSV1) for permessage-deflate with a
    32 KiB window."""
    payload = text
    if deflate:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
        payload = payload[:-4]  # the 00 00 ff ff tail is left out (RFC 7692 7.2.1)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes([0xC1 if deflate else 0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + mask + masked


def read_frame(sock, buf):
    """Read one frame; return the rest of the buffer."""
    hdr, buf = recv_exact(sock, buf, 2)
    length = hdr[1] & 0x7F
    if length == 126:
        ext, buf = recv_exact(sock, buf, 2)
        length = struct.unpack("!H", ext)[0]
    elif length == 127:
        ext, buf = recv_exact(sock, buf, 8)
        length = struct.unpack("!Q", ext)[0]
    _, buf = recv_exact(sock, buf, length)
    return buf


def vmrss_kib(pid):
    """VmRSS of pid in KiB."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError as e:
        raise BenchError("reading /proc/%d/status: %s" % (pid, e))
    raise BenchError("no VmRSS in /proc/%d/status" % pid)


def cmd_idle(args):
    time.sleep(0.3)
    before = vmrss_kib(args.pid)
    socks = []
    try:
        for i in range(args.n):
            try:
                sock, buf = handshake(args.port, offer=args.offer)
                if args.message:
                    text = b"".join(b"idle connection %d line %d\n" % (i, j) for j in range(200))
                    sock.sendall(text_message(text, args.offer is not None))
                    read_frame(sock, buf)
            except (OSError, BenchError) as e:
                raise BenchError("connection %d of %d: %s" % (i + 1, args.n, e))
            socks.append(sock)
        time.sleep(1.0)
        after = vmrss_kib(args.pid)
    finally:
        for s in socks:
            s.close()
    print("%d %d %.3f" % (before, after, (after - before) / args.n))


def one_cycle(port):
    sock, buf = handshake(port)
    try:
        sock.sendall(close_frame())
        read_until_close(sock, buf)
    finally:
        sock.close()


def cmd_connrate(args):
    per = [args.count // args.procs + (1 if i < args.count % args.procs else 0) for i in range(args.procs)]
    start = time.perf_counter()
    children = []
    for n in per:
        pid = os.fork()
        if pid == 0:
            code = 0
            i = 0
            try:
                for i in range(n):
                    one_cycle(args.port)
            except (OSError, BenchError) as e:
                sys.stderr.write("connrate: cycle %d: %s\n" % (i + 1, e))
                code = 1
            except BaseException as e:  # the child must never return into the parent's code
                sys.stderr.write("connrate: %r\n" % (e,))
                code = 1
            os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            failed += 1
    elapsed = time.perf_counter() - start
    if failed:
        raise BenchError("%d of %d client processes failed" % (failed, args.procs))
    print("%.1f" % (args.count / elapsed))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("ports")
    sp.add_argument("n", type=int)
    sp = sub.add_parser("idle")
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--pid", type=int, required=True)
    sp.add_argument("-n", type=int, required=True)
    sp.add_argument("--offer", help="Sec-WebSocket-Extensions to offer")
    sp.add_argument("--message", action="store_true",
                    help="exchange one compressed text message on each connection first")
    sp = sub.add_parser("connrate")
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--procs", type=int, default=2)
    args = p.parse_args()
    try:
        if args.cmd == "ports":
            print(" ".join(str(x) for x in free_ports(args.n)))
        elif args.cmd == "idle":
            cmd_idle(args)
        else:
            cmd_connrate(args)
    except BenchError as e:
        sys.stderr.write("wsclient %s: %s\n" % (args.cmd, e))
        sys.exit(1)
    except OSError as e:
        sys.stderr.write("wsclient %s: %s\n" % (args.cmd, e))
        sys.exit(1)


if __name__ == "__main__":
    main()
