"""Count test cases across meson build directories and print one line:
"N passed, N failed". A suite's cases come from its runner's summary line
("Synthesis: Tested: T | Passing: P | Failing: F"); a suite that ended
without one, or failed after reporting (a sanitizer's exit-time report),
counts as one failure more. Every failed case is named on the lines just
before the count, so that the end of the log says what to look at."""
import json
import re
import sys

SYNTH = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+)")
FAILED_CASE = re.compile(r"^\[FAIL\] (\S+)", re.M)

passed = failed = 0
for build in sys.argv[1:]:
    try:
        lines = open(f"{build}/meson-logs/testlog.json").read().splitlines()
    except OSError:
        print(f"{build}: no test log", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        text = (t.get("stdout") or "") + (t.get("stderr") or "")
        found = SYNTH.findall(text)
        for case in FAILED_CASE.findall(text):
            print(f"{build}: {case} failed")
        if found:
            _, p, f = map(int, found[-1])
            passed += p
            failed += f
            if t["result"] != "OK" and f == 0:
                failed += 1
                print(f"{build}: {t['name']} failed after its tests passed", file=sys.stderr)
        elif t["result"] == "OK":
            passed += 1
        else:
            failed += 1
            print(f"{build}: {t['name']} {t['result']}", file=sys.stderr)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
