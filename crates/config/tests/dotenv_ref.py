"""Reference answers from python-dotenv for tests/dotenv_vs_python.rs.

Usage: python dotenv_ref.py < cases.json > answers.json; cases: [text, ...]. Each text is
written to a file (bytes as given, UTF-8) and read with dotenv_values(path,
interpolate=False), as a program would read it. The answer per case: {"values": [[k, v],
...] (v null for a key without a value), "invalid": whether python-dotenv warned about a
line it could not parse, "bare": whether a statement is a key without a value (even if a
later one gives it one)}. Exits 3 when python-dotenv is not installed.
"""
import json
import logging
import os
import sys
import tempfile

try:
    import dotenv
    from dotenv.main import logger
    from dotenv.parser import parse_stream
except ImportError:
    sys.exit(3)


class Count(logging.Handler):
    def __init__(self):
        super().__init__()
        self.n = 0

    def emit(self, record):
        self.n += 1


def main():
    cases = json.load(sys.stdin)
    counter = Count()
    logger.addHandler(counter)
    logger.propagate = False
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "case.env")
        for text in cases:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            counter.n = 0
            try:
                values = dotenv.dotenv_values(path, interpolate=False)
            except UnicodeDecodeError:
                out.append({"values": [], "invalid": True})
                continue
            with open(path, encoding="utf-8") as f:
                bare = any(b.key is not None and b.value is None for b in parse_stream(f))
            out.append({"values": [[k, v] for k, v in values.items()], "invalid": counter.n > 0,
                        "bare": bare})
    json.dump(out, sys.stdout)


main()
