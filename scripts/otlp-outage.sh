#!/usr/bin/env bash
# The OTLP backend stopped for 30 s under paced load: does the reader's memory stay bounded, do
# the writers carry on, are spans after the recovery delivered and the losses counted?
#
#   scripts/otlp-outage.sh [BUILD_DIR]      (default build)
#
# A stand-in backend (python3 http.server answering 200 to POST /v1/traces, counting spans in
# JSON bodies) runs on 127.0.0.1; loadgen writes 2 processes x 2 threads x 5,000 spans/s for
# 60 s; the backend is killed at 10 s and started again at 40 s. The reader's RSS is sampled
# every second. Prints one summary line and leaves the stats in out/outage/.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
OUT=out/outage
mkdir -p "$OUT"
SEG=outage-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

backend() {
  python3 - "$PORT" "$OUT/received.txt" >/dev/null 2>&1 <<'EOF' &
import http.server, json, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        n = sum(len(ss.get("spans", [])) for rs in json.loads(body).get("resourceSpans", [])
                for ss in rs.get("scopeSpans", []))
        with open(out, "a") as f: f.write("%d\n" % n)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
  echo $!
}

rm -f "$OUT/received.txt" "$OUT/rss.txt"
B=$(backend)
"$BIN/agentring-reader" --segment "$SEG" --create --exporter otlp --otlp-endpoint "http://127.0.0.1:$PORT" \
  --otlp-protocol http/json --otlp-retry-max-elapsed-ms 5000 --stats-json "$OUT/stats.json" \
  --exit-when-idle-ms 2000 2>"$OUT/reader.err" &
R=$!
sleep 0.5
"$BIN/agentring" loadgen --segment "$SEG" --processes 2 --threads 2 --traces 30000 \
  --spans-per-trace 10 --attrs 4 --rate 5000 >"$OUT/loadgen.json" &
L=$!
for t in $(seq 1 70); do
  sleep 1
  if [ "$t" = 10 ]; then kill "$B"; wait "$B" 2>/dev/null || true; fi
  if [ "$t" = 40 ]; then B=$(backend); fi
  if kill -0 "$R" 2>/dev/null; then
    awk '/VmRSS/ {print $2}' "/proc/$R/status" >>"$OUT/rss.txt" 2>/dev/null || true
  fi
  kill -0 "$L" 2>/dev/null || { kill -0 "$R" 2>/dev/null || break; }
done
wait "$L"
wait "$R" || true
kill "$B" 2>/dev/null || true
rm -f "/dev/shm/agentring.$SEG"
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
lg = json.load(open(out + "/loadgen.json"))
st = json.load(open(out + "/stats.json"))
rss = [int(x) for x in open(out + "/rss.txt") if x.strip()]
recv = sum(int(x) for x in open(out + "/received.txt") if x.strip())
e = st["exporters"]["otlp"]
print("committed=%d writer_drops=%d received=%d exported=%d lost_queue_full=%d lost_export_failed=%d "
      "reader_rss_max_kib=%d reader_rss_last_kib=%d"
      % (lg["spans_committed"], lg["records_dropped"], recv, e["spans_exported"],
         e["spans_lost_queue_full"], e["spans_lost_export_failed"], max(rss), rss[-1]))
EOF
