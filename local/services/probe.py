#!/usr/bin/env python3
"""Readiness probes that speak the servers' own wire protocols (stdlib only).

  probe.py kafka HOST:PORT          Metadata request; ok when a broker is listed
  probe.py cql HOST:PORT [QUERY]    CQL v4 query; prints the rows tab-separated
"""

import socket
import struct
import sys
import uuid

TIMEOUT = 5.0


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)


# ---------------------------------------------------------------- Kafka


def kafka(addr):
    host, port = addr.rsplit(":", 1)
    client_id = b"atlas-probe"
    # Metadata v4 (still served by 4.x), header v1, all topics.
    body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
    body += struct.pack(">ib", -1, 0)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        r = Reader(recv_exact(s, size))
    r.i32()  # correlation id
    r.i32()  # throttle time
    brokers = []
    for _ in range(r.i32()):
        node_id, host_, port_ = r.i32(), r.string(), r.i32()
        r.string()  # rack
        brokers.append(f"{node_id}@{host_}:{port_}")
    cluster_id = r.string()
    controller = r.i32()
    topics = []
    for _ in range(r.i32()):
        r.i16()
        name = r.string()
        r.i8()
        for _ in range(r.i32()):
            r.i16(), r.i32(), r.i32()
            for _ in range(r.i32()):
                r.i32()
            for _ in range(r.i32()):
                r.i32()
        topics.append(name)
    print(f"cluster={cluster_id} controller={controller} brokers={','.join(brokers)} topics={len(topics)}")
    return 0 if brokers and controller >= 0 else 1


# ---------------------------------------------------------------- CQL


def cql_frame(opcode, body, stream=1):
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def cql_read(sock):
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    return opcode, Reader(recv_exact(sock, length))


def cql_type(r):
    tid = r.u16()
    if tid == 0x0000:
        return ("custom", r.string())
    if tid in (0x0020, 0x0022):
        return (tid, cql_type(r))
    if tid == 0x0021:
        return (tid, cql_type(r), cql_type(r))
    if tid == 0x0030:
        r.string(), r.string()
        fields = [(r.string(), cql_type(r)) for _ in range(r.u16())]
        return (tid, fields)
    if tid == 0x0031:
        return (tid, [cql_type(r) for _ in range(r.u16())])
    return (tid,)


def cql_value(t, v):
    if v is None:
        return "null"
    tid = t[0]
    if tid in (0x0001, 0x000D):
        return v.decode()
    if tid in (0x0009,):
        return str(struct.unpack(">i", v)[0])
    if tid in (0x0002, 0x0005, 0x000B):
        return str(struct.unpack(">q", v)[0])
    if tid == 0x0004:
        return "true" if v != b"\x00" else "false"
    if tid in (0x000C, 0x000F):
        return str(uuid.UUID(bytes=v))
    if tid == 0x0010:
        return socket.inet_ntop(socket.AF_INET if len(v) == 4 else socket.AF_INET6, v)
    if tid in (0x0020, 0x0022):
        r = Reader(v)
        return "[" + ",".join(cql_value(t[1], r.bytes_()) for _ in range(r.i32())) + "]"
    return "0x" + v.hex()


def cql(addr, query):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT * 4)
        startup = struct.pack(">H", 1)
        for k, v in (("CQL_VERSION", "3.0.0"),):
            startup += struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode()
        s.sendall(cql_frame(0x01, startup))
        op, r = cql_read(s)
        if op == 0x00:
            r.i32()
            raise SystemExit(f"startup error: {r.string()}")
        if op != 0x02:
            raise SystemExit(f"unexpected startup reply opcode {op} (authentication is not supported)")
        q = query.encode()
        # consistency ONE, no flags
        s.sendall(cql_frame(0x07, struct.pack(">i", len(q)) + q + struct.pack(">HB", 0x0001, 0)))
        op, r = cql_read(s)
    if op == 0x00:
        code = r.i32()
        print(f"error 0x{code:04x}: {r.string()}", file=sys.stderr)
        return 1
    if op != 0x08:
        print(f"unexpected opcode {op}", file=sys.stderr)
        return 1
    kind = r.i32()
    if kind != 0x0002:
        print({1: "ok", 3: "keyspace set", 5: "schema changed"}.get(kind, f"result kind {kind}"))
        return 0
    flags, ncols = r.i32(), r.i32()
    if flags & 0x0002:
        r.bytes_()
    types, names = [], []
    if not flags & 0x0004:
        glob = flags & 0x0001
        if glob:
            r.string(), r.string()
        for _ in range(ncols):
            if not glob:
                r.string(), r.string()
            names.append(r.string())
            types.append(cql_type(r))
    print("\t".join(names))
    for _ in range(r.i32()):
        print("\t".join(cql_value(types[i], r.bytes_()) for i in range(ncols)))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "kafka":
        return kafka(argv[1])
    if len(argv) >= 2 and argv[0] == "cql":
        return cql(argv[1], argv[2] if len(argv) > 2 else "SELECT release_version FROM system.local")
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, ConnectionError, struct.error) as e:
        print(f"probe failed: {e}", file=sys.stderr)
        sys.exit(1)
