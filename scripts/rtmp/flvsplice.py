#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Makes purpose-built bad (and good) recordings from FLV files, at the tag level
(no decoding, no re-encoding), to prove what the analysis detects.

  flvsplice.py splice OUT A B --at MS [--b-start key|any] [--b-offset MS] [--audio-at MS]
      A's tags before MS, then B's (B timestamps + b-offset) from its first video tag
      at or after MS (its first keyframe with --b-start key, the default; any frame:
      a splice mid-GOP, B's P-frames decoded on top of A's pictures). Audio switches
      at --audio-at (default: MS). B's codec headers go out at the splice when they
      differ from A's.
  flvsplice.py shift OUT IN --audio-ms MS
      Audio tags moved by MS (positive: audio late): a deliberate A/V offset.
  flvsplice.py drop-audio OUT IN --from MS --to MS
      Audio tags in [from, to) removed: an audio gap.
  flvsplice.py damage OUT IN --at MS --frames N
      Overwrites the second half of the payload of N video tags from MS with garbage:
      decoder errors.
Prints what it did (timestamps of the last A and first B frames) as key=value lines.
"""
import argparse
import struct
import sys

AUDIO, VIDEO, SCRIPT = 8, 9, 18


class Tag:
    __slots__ = ("type", "ts", "data")

    def __init__(self, type_, ts, data):
        self.type, self.ts, self.data = type_, ts, data

    @property
    def is_header(self):
        """AVC sequence header or AAC AudioSpecificConfig."""
        if self.type == VIDEO:
            return len(self.data) > 1 and (self.data[0] & 0x0F) == 7 and self.data[1] == 0
        if self.type == AUDIO:
            return len(self.data) > 1 and (self.data[0] >> 4) == 10 and self.data[1] == 0
        return False

    @property
    def is_key(self):
        return self.type == VIDEO and (self.data[0] >> 4) == 1 and not self.is_header

    @property
    def is_frame(self):
        return self.type == VIDEO and not self.is_header


def read_flv(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"FLV":
        raise SystemExit("%s: not an FLV file" % path)
    hlen = struct.unpack(">I", raw[5:9])[0]
    header = raw[:hlen]
    pos = hlen + 4
    tags = []
    while pos + 11 <= len(raw):
        t = raw[pos] & 0x1F
        size = int.from_bytes(raw[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(raw[pos + 4 : pos + 7], "big") | (raw[pos + 7] << 24)
        data = raw[pos + 11 : pos + 11 + size]
        if len(data) < size:
            break
        tags.append(Tag(t, ts, bytearray(data)))
        pos += 11 + size + 4
    return header, tags


def write_flv(path, header, tags):
    with open(path, "wb") as f:
        f.write(header)
        f.write(b"\0\0\0\0")
        for t in tags:
            ts = max(0, int(t.ts))
            f.write(bytes([t.type]))
            f.write(len(t.data).to_bytes(3, "big"))
            f.write((ts & 0xFFFFFF).to_bytes(3, "big"))
            f.write(bytes([(ts >> 24) & 0xFF]))
            f.write(b"\0\0\0")
            f.write(t.data)
            f.write((11 + len(t.data)).to_bytes(4, "big"))


def headers(tags):
    out = {}
    for t in tags:
        if t.is_header and t.type not in out:
            out[t.type] = t
    return out


def splice(a):
    ha, ta = read_flv(a.a)
    _, tb = read_flv(a.b)
    for t in tb:
        t.ts += a.b_offset
    audio_at = a.at if a.audio_at is None else a.audio_at
    first_b = next(
        (t for t in tb if t.is_frame and t.ts >= a.at and (a.b_start == "any" or t.is_key)), None
    )
    if first_b is None:
        raise SystemExit("B has no %s frame at or after %d ms" % (a.b_start, a.at))
    out = [t for t in ta if t.type == SCRIPT or t.is_header]
    out += [t for t in ta if t.is_frame and t.ts < a.at]
    out += [t for t in ta if t.type == AUDIO and not t.is_header and t.ts < audio_at]
    hb, hA = headers(tb), headers(ta)
    for typ, h in hb.items():
        if typ not in hA or hA[typ].data != h.data:
            h.ts = first_b.ts if typ == VIDEO else audio_at
            out.append(h)
    out += [t for t in tb if t.is_frame and t.ts >= first_b.ts]
    out += [t for t in tb if t.type == AUDIO and not t.is_header and t.ts >= audio_at]
    # Stable order by timestamp; headers before the frames of the same time.
    out.sort(key=lambda t: (t.ts if t.type != SCRIPT else -1, 0 if t.is_header else 1))
    write_flv(a.out, ha, out)
    last_a = max((t.ts for t in ta if t.is_frame and t.ts < a.at), default=None)
    print("last_a_ms=%s" % last_a)
    print("first_b_ms=%d" % first_b.ts)
    print("first_b_key=%d" % (1 if first_b.is_key else 0))
    nxt = next((t.ts for t in tb if t.is_key and t.ts > first_b.ts), None)
    print("next_b_key_ms=%s" % nxt)


def shift(a):
    h, tags = read_flv(a.inp)
    for t in tags:
        if t.type == AUDIO and not t.is_header:
            t.ts += a.audio_ms
    tags.sort(key=lambda t: (t.ts if t.type != SCRIPT and not t.is_header else -1))
    write_flv(a.out, h, tags)
    print("audio_shift_ms=%d" % a.audio_ms)


def drop_audio(a):
    h, tags = read_flv(a.inp)
    keep = [t for t in tags if not (t.type == AUDIO and not t.is_header and a.start <= t.ts < a.stop)]
    write_flv(a.out, h, keep)
    print("dropped_audio_tags=%d" % (len(tags) - len(keep)))


def damage(a):
    h, tags = read_flv(a.inp)
    n = 0
    first = None
    for t in tags:
        if t.is_frame and t.ts >= a.at and n < a.frames:
            half = len(t.data) // 2
            for i in range(max(9, half), len(t.data)):
                t.data[i] = (i * 151 + 89) & 0xFF
            first = t.ts if first is None else first
            n += 1
    write_flv(a.out, h, tags)
    print("damaged_frames=%d" % n)
    print("first_damaged_ms=%s" % first)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("splice")
    s.add_argument("out")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--at", type=int, required=True)
    s.add_argument("--b-start", choices=["key", "any"], default="key")
    s.add_argument("--b-offset", type=int, default=0)
    s.add_argument("--audio-at", type=int)
    sh = sub.add_parser("shift")
    sh.add_argument("out")
    sh.add_argument("inp")
    sh.add_argument("--audio-ms", type=int, required=True)
    g = sub.add_parser("drop-audio")
    g.add_argument("out")
    g.add_argument("inp")
    g.add_argument("--from", dest="start", type=int, required=True)
    g.add_argument("--to", dest="stop", type=int, required=True)
    d = sub.add_parser("damage")
    d.add_argument("out")
    d.add_argument("inp")
    d.add_argument("--at", type=int, required=True)
    d.add_argument("--frames", type=int, default=1)
    a = ap.parse_args()
    {"splice": splice, "shift": shift, "drop-audio": drop_audio, "damage": damage}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
