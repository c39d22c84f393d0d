"""An eventlistener (supervisor's protocol) that appends every PROCESS_STATE event to a file.

Usage: state_recorder.py OUTFILE. Each line: "<processname> <from_state> <to_state>".
Works unchanged under supervisord and corrald, which is the point: the same listener
records the state sequences both daemons go through.
"""

import sys

from supervisor import childutils


def main():
    path = sys.argv[1]
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        name = headers["eventname"]
        if name.startswith("PROCESS_STATE_"):
            fields = dict(tok.split(":", 1) for tok in payload.split())
            with open(path, "a") as out:
                out.write("%s %s %s\n" % (fields["processname"], fields["from_state"], name[len("PROCESS_STATE_"):]))
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
