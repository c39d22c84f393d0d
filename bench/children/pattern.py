"""The byte streams the benchmark's children write, and their expected digests.

Both the children and the verifier import this, so "every byte landed, in order, exactly
once" is checked by comparing a SHA-256 of the expected stream with one of the log files
concatenated oldest first.
"""

import hashlib

# flood: 256 blocks of 1 MiB. Each block starts with a 64-byte header carrying the block
# number, then 64-byte lines numbered within the block, so a lost, doubled or reordered
# chunk anywhere changes the digest.
FLOOD_BYTES = 256 * 1024 * 1024
BLOCK = 1024 * 1024
LINE = 64
_FILL = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"  # 46 bytes


def _block_body():
    lines = [b"%016d %s\n" % (i, _FILL) for i in range(1, BLOCK // LINE)]
    body = b"".join(lines)
    assert all(len(x) == LINE for x in lines)
    return body


_BODY = None


def flood_block(n):
    """Block n of the flood stream (exactly BLOCK bytes)."""
    global _BODY
    if _BODY is None:
        _BODY = _block_body()
    header = b"BLOCK %057d\n" % n
    assert len(header) == LINE
    return header + _BODY


def flood_blocks(total=FLOOD_BYTES):
    return total // BLOCK


def flood_digest(total=FLOOD_BYTES):
    h = hashlib.sha256()
    for n in range(flood_blocks(total)):
        h.update(flood_block(n))
    return h.hexdigest()


# lines: child k writes LINES lines, one write(2) each.
LINES = 20_000


def line(k, i):
    return b"lines%02d %06d the quick brown fox jumps\n" % (k, i)


def lines_stream(k, count=LINES):
    return b"".join(line(k, i) for i in range(count))
