"""Write the dev lock: `pip freeze` on stdin minus what requirements.txt already pins."""

import sys

with open("requirements.txt", encoding="utf-8") as lock:
    runtime = {line.split("==")[0].lower() for line in lock if "==" in line}
extra = [line.strip() for line in sys.stdin if "==" in line]
print("# Pinned test and tooling lock (includes the runtime lock). Regenerate with 'make lock'.")
print("-r requirements.txt")
for line in sorted(extra, key=str.lower):
    if line.split("==")[0].lower() not in runtime:
        print(line)
