#!/usr/bin/env bash
# Runs the README's quick start as written: every line of the first ```sh
# block after "## Quick start", top to bottom, against a fresh data dir on free
# ports. Substitutions: the data dir /tmp/gh, the client ports 8883/8884 (the
# daemon gets free ones from GATEHOUSE_MQTTS/GATEHOUSE_WSS), and the SERIAL
# placeholder, which takes the serial `cert create` printed.
# Usage: quickstart.sh path/to/gatehouse path/to/README.md
set -euo pipefail

BIN=$(realpath "${1:?usage: quickstart.sh path/to/gatehouse path/to/README.md}")
README=$(realpath "${2:?usage: quickstart.sh path/to/gatehouse path/to/README.md}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port)
P2=$(free_port)
mkdir -p "$WORK/bin" "$WORK/cwd"
ln -s "$BIN" "$WORK/bin/gatehouse" # `gatehouse` as after `make install`
export PATH="$WORK/bin:$PATH" GATEHOUSE_MQTTS="127.0.0.1:$P1" GATEHOUSE_WSS="127.0.0.1:$P2"

python3 - "$README" "$WORK" "$P1" "$P2" >"$WORK/quickstart.sh" <<'PY'
import re, sys
readme, work, p1, p2 = sys.argv[1:]
text = open(readme).read()
start = text.index("\n## Quick start")
block = text[text.index("```sh\n", start) + 6:]
block = block[:block.index("\n```")]
lines, cur = [], ""
for raw in block.split("\n"):
    cur += raw
    if cur.endswith("\\"):
        cur = cur[:-1] + " "
        continue
    if cur.strip() and not cur.lstrip().startswith("#"):
        lines.append(cur)
    cur = ""
print("trap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT")
for n, line in enumerate(lines, 1):
    line = line.replace("/tmp/gh", work + "/gh").replace("-p 8883", "-p " + p1).replace("-p 8884", "-p " + p2)
    line = re.sub(r"\bSERIAL\b", '"$SERIAL"', line)
    print(f"echo '--- quick start line {n}' >&2")
    if " cert create " in line:
        # The braces end on the next line, after the line's own comment.
        print("{ " + line + "\n} >" + work + "/created")
        print("SERIAL=$(tail -n1 " + work + "/created)")
    else:
        print(line)
PY
[ -s "$WORK/quickstart.sh" ] || { echo "FAIL - no quick start block in $README" >&2; exit 1; }

cd "$WORK/cwd"
if ! bash -euo pipefail "$WORK/quickstart.sh" >"$WORK/out" 2>&1; then
	echo "FAIL - the README quick start does not run as written:" >&2
	tail -n 30 "$WORK/out" >&2
	exit 1
fi
SERIAL=$(tail -n1 "$WORK/created")
state=$("$BIN" --data "$WORK/gh" cert show "$SERIAL" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[ "$state" = revoked ] || { echo "FAIL - after the quick start $SERIAL is $state, want revoked" >&2; exit 1; }
"$BIN" --data "$WORK/gh" events --type disconnected --json | grep '"reason": "suspended by operator' >/dev/null ||
	{ echo "FAIL - the quick start's suspend dropped no session" >&2; exit 1; }
echo "ok - the README quick start runs as written ($(grep -c '^--- quick start line' "$WORK/out") lines)"
