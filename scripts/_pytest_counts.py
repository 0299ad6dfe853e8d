"""Print "PASSED FAILED SKIPPED" from a pytest log's closing line (errors and xpasses count as failed).

Used by scripts/test to sum its two halves; prints "0 0 0" when the log has no closing line.
"""

import re
import sys

with open(sys.argv[1], errors="replace") as log:
    lines = log.read().splitlines()
# "==== 2 failed, 40 passed, 3 skipped in 9.48s ====" (or without the rules, with -q)
CLOSING = re.compile(r"^=*\s*(no tests ran|\d+ \w+)[^=]* in [0-9.]+s\b")
closing = next((line for line in reversed(lines) if CLOSING.match(line)), "")
counts = {"passed": 0, "failed": 0, "skipped": 0}
as_count = {"error": "failed", "errors": "failed", "xpassed": "failed", "xfailed": "skipped"}
for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", closing):
    counts[as_count.get(word, word)] += int(number)
print(counts["passed"], counts["failed"], counts["skipped"])
