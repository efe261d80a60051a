#!/usr/bin/env python3
"""Builds the seed corpus (fuzz/corpus/<target>/) from the specification's examples
(/work/shared/spec/w800-tcpip-at.rst, the literal blocks after each "示例" heading) and
WIRE.md's transcripts (the AT command lines in its code spans and blocks): one file per
example, one command stream each. Re-run after the spec changes:
    python3 fuzz/make_corpus.py [spec dir]"""
import hashlib, os, re, sys

spec = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/spec"
here = os.path.dirname(os.path.abspath(__file__))
streams = []

rst = open(os.path.join(spec, "w800-tcpip-at.rst"), encoding="utf-8").read().splitlines()
i = 0
while i < len(rst):
    if rst[i].strip() == "示例":
        j, cmds = i + 1, []
        while j < len(rst) and not (rst[j].strip() == "示例" or rst[j].startswith(".. _")):
            m = re.match(r"^\s+(AT[^\s/]*(?:\s[^/]*?)?)\s*(//.*)?$", rst[j])
            if m and not m.group(1).startswith("ATTENTION"):
                cmds.append(m.group(1).strip())
            j += 1
        if cmds:
            streams.append(cmds)
        i = j
    else:
        i += 1

wire = open(os.path.join(spec, "WIRE.md"), encoding="utf-8").read()
wire_cmds = [c for c in re.findall(r"`(AT[^`\s]*)`", wire)]
for k in range(0, len(wire_cmds), 4):
    streams.append(wire_cmds[k : k + 4])

for target in ("engine_bytes", "parser", "engine_net", "data_mode", "commands"):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for cmds in streams:
        data = "".join(c + "\r\n" for c in cmds).encode()
        if target == "data_mode":
            # A transparent session: the commands are data, then the escape.
            data = b"\x00" + data
        name = hashlib.sha1(data).hexdigest()[:16]
        open(os.path.join(d, name), "wb").write(data)
print(f"{len(streams)} streams")
