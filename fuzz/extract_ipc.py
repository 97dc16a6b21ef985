"""Writes the Arrow IPC payloads of an .rrd's ArrowMsgs and footer manifests as decode_ipc
seeds (one mode byte: 0 = chunk, 1 = manifest; then the IPC stream). Usage:
python3 extract_ipc.py OUTDIR FILE.rrd..."""
import hashlib, os, struct, sys


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << s; s += 7
        if c < 0x80:
            return v, i


def fields(b):
    """Protobuf (field number, value) pairs; value is int or bytes."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        wt = key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        yield key >> 3, v


def lz4_block(src):
    out, i = bytearray(), 0
    while i < len(src):
        tok = src[i]; i += 1
        lit = tok >> 4
        if lit == 15:
            while True:
                c = src[i]; i += 1; lit += c
                if c != 255: break
        out += src[i:i + lit]; i += lit
        if i >= len(src):
            break
        off = src[i] | src[i + 1] << 8; i += 2
        ml = tok & 15
        if ml == 15:
            while True:
                c = src[i]; i += 1; ml += c
                if c != 255: break
        for _ in range(ml + 4):
            out.append(out[-off])
    return bytes(out)


def payload(f, payload_tag, compression_tag):
    data = f.get(payload_tag, b"")
    return lz4_block(data) if f.get(compression_tag) == 2 else data


def messages(b):
    i = 12
    while i + 16 <= len(b):
        kind, n = struct.unpack_from("<QQ", b, i)
        if i + 16 + n > len(b):
            return
        yield kind, b[i + 16:i + 16 + n]
        i += 16 + n
        if kind == 0:
            i += 32 + 12  # StreamFooter, then the next stream's header


def main(outdir, files):
    for path in files:
        b = open(path, "rb").read()
        for kind, body in messages(b):
            seeds = []
            if kind == 2:  # ArrowMsg
                seeds.append(b"\0" + payload(dict(fields(body)), 5, 2))
            elif kind == 0:  # End: RrdFooter.manifests[].data
                for tag, m in fields(body):
                    if tag == 1:
                        data = dict(fields(dict(fields(m)).get(4, b"")))
                        seeds.append(b"\1" + payload(data, 2, 3))
            for s in seeds:
                name = hashlib.sha1(s).hexdigest()
                open(os.path.join(outdir, name), "wb").write(s)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
