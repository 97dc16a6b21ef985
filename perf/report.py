"""The end every perf/*_sink.sh report shares: failed runs, every run's JSON line, written to
the report file and printed. Imported by the scripts' inline Python (`sys.path` gets perf/)."""

import json


def finish(lines: list, runs: list, report: str) -> None:
    P = lines.append
    failed = [r for r in runs if "error" in r]
    if failed:
        P("## Failed runs")
        P("")
        for r in failed:
            err = r["error"].strip().splitlines()
            P(f"- {r['size']} round {r['round']} {r['variant']}: `{err[-1] if err else 'no output'}`")
        P("")

    P("<details><summary>Every run (JSON)</summary>")
    P("")
    P("```")
    for r in runs:
        P(json.dumps(r))
    P("```")
    P("")
    P("</details>")
    text = "\n".join(lines) + "\n"
    open(report, "w").write(text)
    print(text)
    print(f"written to {report}")
