#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""The video test programme: one definition shared by the encoder (which draws it)
and the analysis (which reads it back from decoded frames).

Programme time is wall-clock time: frame k shows epoch time k * 40 ms (25 fps), so two
encoders started at different moments show the same picture at the same instant.
Every frame carries, at 640x360 design size:

- a barcode on the top 16 lines: 32 cells of 20 px. Cell 0 is always white, cell 31
  always black (references for the threshold); cells 1..24 hold k mod K_MOD (least
  significant bit first), cells 25..30 the check value (k mod K_MOD) mod 61. A frame
  decoded from the wrong references mixes the cells of two frames and fails the check.
- the source box, 64x64 at (576, 288), aligned to 16x16 macroblocks: the encoder's
  colour at one of four brightness steps chosen by k mod 4. Half of the palette ramps
  up, half down, so a P-frame of one encoder decoded on top of the other's picture
  gives a box that matches neither colour at that programme time (when the box is
  inter-coded).
- the static patch, 48x64 at (496, 288): the encoder's colour, never changing. P-frames
  leave it alone, so after a splice mid-GOP it keeps the old encoder's colour while the
  box (intra-coded or not) does not: a frame whose patch and box disagree is mixed.
- a full white frame at each whole second of programme time (k mod 25 == 0), under
  the barcode, the box and the texts, and in the audio a 50 ms 1 kHz blip starting at
  the same instant; plus a pilot tone whose frequency is the encoder's audio label.
- a burnt-in clock (programme time of day, UTC, ms), a moving caption and the
  encoder's label text (for people; the analysis does not read them).

  programme.py video-filter --k0 K --colour red --label primary   (prints a lavfi graph)
  programme.py audio-expr --k0 K --colour red                      (prints an aevalsrc expr)
  programme.py k0                                                  (frame index of now)
"""
import argparse
import sys
import time

FPS = 25
FRAME_MS = 1000 // FPS
WIDTH, HEIGHT = 640, 360
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"

# Barcode
BAR_H = 16
CELLS = 32
CELL_W = WIDTH // CELLS
K_BITS = 24
# k is carried modulo K_MOD: a multiple of 25 (markers) and of 4 (box ramp) below 2^24,
# so k mod 25 and k mod 4 read the same on the carried value (6.07 days of frames).
K_MOD = 25 * 4 * (1 << 17)
CHECK_MOD = 61
CHECK_BITS = 6

# Source box and the brightness ramp (k mod 4); the static patch (never changes)
BOX = (576, 288, 64, 64)
STATIC = (496, 288, 48, 64)
RAMP = (0.4, 0.6, 0.8, 1.0)

# Background patches (x, y, w, h) that no overlay covers: the white-frame marker.
BACKGROUND = [(16, 300, 160, 40), (200, 110, 240, 24)]
BG_RGB = (0x1C, 0x2A, 0x38)

# name: (base RGB, ramps up, pilot tone Hz)
PALETTE = {
    "red": ((230, 40, 40), True, 300),
    "blue": ((40, 90, 235), False, 450),
    "green": ((40, 200, 70), True, 600),
    "yellow": ((225, 205, 40), False, 750),
    "magenta": ((215, 50, 215), True, 1350),
    "cyan": ((40, 210, 220), False, 1650),
}

MARKER_EVERY = FPS  # frames: one white frame per programme second
BLIP_HZ = 1000
BLIP_S = 0.05
BLIP_AMP = 0.5
PILOT_AMP = 0.08


def check_value(k24):
    return k24 % CHECK_MOD


def box_rgb(colour, k):
    """The box colour the encoder of `colour` draws on frame k."""
    base, up, _ = PALETTE[colour]
    step = k % len(RAMP)
    f = RAMP[step] if up else RAMP[len(RAMP) - 1 - step]
    return tuple(int(round(c * f)) for c in base)


def static_rgb(colour):
    return PALETTE[colour][0]


def hexrgb(rgb):
    return "0x%02X%02X%02X" % rgb


def cell_bits(k):
    """Cell values (1 = white) for frame k."""
    k24 = k % K_MOD
    chk = check_value(k24)
    bits = [1]
    bits += [(k24 >> i) & 1 for i in range(K_BITS)]
    bits += [(chk >> i) & 1 for i in range(CHECK_BITS)]
    bits += [0]
    return bits


def barcode_present(levels):
    """Whether the reference cells are there at all (a frame of the programme, however
    damaged), as opposed to a picture without a barcode (black, a slate)."""
    return len(levels) == CELLS and levels[0] - levels[-1] >= 80


def decode_cells(levels, threshold=None):
    """levels: 32 luma values of the cell centres. Returns k mod K_MOD, or None when the
    reference cells or the check do not hold."""
    if not barcode_present(levels):
        return None
    hi, lo = levels[0], levels[-1]
    thr = threshold if threshold is not None else (hi + lo) / 2
    # A cell far from both references is a mixed or smeared cell.
    margin = (hi - lo) * 0.3
    bits = []
    for v in levels:
        if abs(v - hi) > margin and abs(v - lo) > margin:
            return None
        bits.append(1 if v >= thr else 0)
    k24 = sum(b << i for i, b in enumerate(bits[1 : 1 + K_BITS]))
    if k24 >= K_MOD:
        return None
    chk = sum(b << i for i, b in enumerate(bits[1 + K_BITS : 1 + K_BITS + CHECK_BITS]))
    return k24 if chk == check_value(k24) else None


def video_filter(k0, colour, label):
    """A lavfi filter chain (after a 640x360 25 fps colour source) drawing the programme
    for frames k = k0 + n."""
    def on(expr):
        return "enable='%s'" % expr

    k = "(n+%d)" % k0
    f = ["format=yuv420p"]
    f.append(
        "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:"
        + on("eq(mod(%s,%d),0)" % (k, MARKER_EVERY))
    )
    # Programme time of day (UTC) at frame n: pts plus the day offset of frame k0.
    tod = (k0 % (86400 * FPS)) / FPS
    f.append(
        "drawtext=fontfile=%s:text='%%{pts\\:hms\\:%.2f}':fontsize=44:fontcolor=white:"
        "box=1:boxcolor=black:boxborderw=6:x=(w-tw)/2:y=40" % (FONT, tod)
    )
    f.append(
        "drawtext=fontfile=%s:text='PROGRAMME':fontsize=40:fontcolor=0xFFA040:"
        "x='mod(%s*4,w+260)-260':y=170" % (FONT, k)
    )
    f.append(
        "drawtext=fontfile=%s:text='%s':fontsize=24:fontcolor=white:box=1:boxcolor=black:"
        "boxborderw=4:x=%d-tw-16:y=%d" % (FONT, label.replace(":", "\\:").replace("'", ""), STATIC[0], STATIC[1] + 20)
    )
    f.append("drawbox=x=%d:y=%d:w=%d:h=%d:color=%s:t=fill" % (STATIC + (hexrgb(static_rgb(colour)),)))
    # Barcode: a black strip, white cells where the bit is set.
    f.append("drawbox=x=0:y=0:w=%d:h=%d:color=black:t=fill" % (WIDTH, BAR_H))
    k24 = "mod(%s,%d)" % (k, K_MOD)
    for cell in range(CELLS):
        x = cell * CELL_W
        if cell == 0:
            cond = None
        elif cell <= K_BITS:
            cond = "mod(floor(%s/%d),2)" % (k24, 1 << (cell - 1))
        elif cell < CELLS - 1:
            cond = "mod(floor(mod(%s,%d)/%d),2)" % (k24, CHECK_MOD, 1 << (cell - 1 - K_BITS))
        else:
            continue
        box = "drawbox=x=%d:y=0:w=%d:h=%d:color=white:t=fill" % (x, CELL_W, BAR_H)
        f.append(box if cond is None else box + ":" + on(cond))
    # Source box: four brightness steps.
    for step in range(len(RAMP)):
        # frame k shows step k mod 4; box_rgb gives that step's colour
        rgb = box_rgb(colour, step)
        f.append(
            "drawbox=x=%d:y=%d:w=%d:h=%d:color=%s:t=fill:%s"
            % (BOX + (hexrgb(rgb), on("eq(mod(%s,%d),%d)" % (k, len(RAMP), step))))
        )
    return ",".join(f)


def audio_expr(k0, colour):
    """aevalsrc expression: pilot tone plus the 1 kHz blip at each programme second.
    t is the source's time from 0; programme time is t + k0/25 (kept modulo 1000 s so
    the sine phases stay exact in double precision)."""
    off = (k0 % (1000 * FPS)) / FPS
    tp = "(t+%.2f)" % off
    pilot = PALETTE[colour][2]
    return "%g*sin(2*PI*%d*%s)+if(lt(mod(%s,1),%g),%g*sin(2*PI*%d*%s),0)" % (
        PILOT_AMP,
        pilot,
        tp,
        tp,
        BLIP_S,
        BLIP_AMP,
        BLIP_HZ,
        tp,
    )


def k_now(lead_s=0.0):
    return int((time.time() + lead_s) * FPS)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("video-filter")
    v.add_argument("--k0", type=int, required=True)
    v.add_argument("--colour", choices=sorted(PALETTE), required=True)
    v.add_argument("--label", default="")
    a = sub.add_parser("audio-expr")
    a.add_argument("--k0", type=int, required=True)
    a.add_argument("--colour", choices=sorted(PALETTE), required=True)
    k = sub.add_parser("k0")
    k.add_argument("--lead", type=float, default=0.0)
    sub.add_parser("colours")
    args = ap.parse_args()
    if args.cmd == "video-filter":
        print(video_filter(args.k0, args.colour, args.label or args.colour))
    elif args.cmd == "audio-expr":
        print(audio_expr(args.k0, args.colour))
    elif args.cmd == "k0":
        print(k_now(args.lead))
    else:
        print(" ".join(sorted(PALETTE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
