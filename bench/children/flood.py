"""Write the flood stream (pattern.flood_block) to stdout as fast as possible, 64 KiB per
write(2), then exit 0."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pattern  # noqa: E402

total = int(sys.argv[1]) if len(sys.argv) > 1 else pattern.FLOOD_BYTES
WRITE = 64 * 1024
for n in range(pattern.flood_blocks(total)):
    view = memoryview(pattern.flood_block(n))
    off = 0
    while off < len(view):
        off += os.write(1, view[off : off + WRITE])
