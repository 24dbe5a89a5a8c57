#!/usr/bin/env python3
"""Accuracy of fault-proxy's throttle: a local server sends as fast as it can through
the proxy; a client measures what arrives over 9 s (after 1 s of settling) and the
longest pause between reads, for a few rates.

    scripts/fault-proxy-throttle.py            # FP_BIN=target/release/fault-proxy
"""
import os, socket, subprocess, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("FP_BIN", os.path.join(ROOT, "target/release/fault-proxy"))
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(5)
def serve():
    while True:
        c, _ = srv.accept()
        def run(c=c):
            c.recv(100)
            data = b"x" * 4096
            try:
                while True: c.sendall(data)
            except Exception: pass
        threading.Thread(target=run, daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
p = subprocess.Popen([BIN, "--upstream", "127.0.0.1:%d" % srv.getsockname()[1]], stdout=subprocess.PIPE, text=True)
first = p.stdout.readline()
listen = int(first.split("listen=")[1].split()[0].split(":")[1])
ctrl = int(first.split("control=")[1].split()[0].split(":")[1])
cs = socket.create_connection(("127.0.0.1", ctrl)); cf = cs.makefile("rw")
for rate in [4000, 12000, 16000, 64000]:
    cf.write("throttle %d\n" % rate); cf.flush(); cf.readline()
    c = socket.create_connection(("127.0.0.1", listen)); c.sendall(b"GO\n")
    t0 = time.time(); n = 0; last = t0; maxgap = 0
    while time.time() - t0 < 10:
        b = c.recv(65536); now = time.time()
        if now - t0 > 1:  # skip the first second
            n += len(b); maxgap = max(maxgap, now - last)
        last = now
    c.close()
    print("throttle %6d B/s: measured %.0f B/s over 9 s (%.1f%%), longest pause %.0f ms" % (rate, n/9, (n/9-rate)/rate*100, maxgap*1000))
p.kill()
p.wait()
