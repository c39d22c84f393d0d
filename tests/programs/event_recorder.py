"""An eventlistener (supervisor.childutils) that appends every event it gets to OUTFILE:
"<eventname> <payload with newlines as |>". Used with any `events=` subscription.

Usage: event_recorder.py OUTFILE
"""
import sys

from supervisor import childutils


def main():
    path = sys.argv[1]
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        with open(path, "a") as out:
            out.write("%s %s\n" % (headers["eventname"], payload.replace("\n", "|")))
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
