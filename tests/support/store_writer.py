"""Crash-test writer: autosaves drafts as fast as it can and reports each commit on stdout.

    python tests/support/store_writer.py DB_PATH SEED

Prints `READY`, then after every save that returned (i.e. committed) `SAVED <id> <version> <user>`, flushed,
so the parent test knows the last version that must survive a `kill -9` at any instant. The content
of version v of a draft is `content_for(id, v)`, so the parent can verify the stored text exactly.
Drafts are created through an Autosaver (start / update / finish) as the studio does; sizes vary from a
few bytes to ~300 KB so kills land inside WAL writes, fsyncs and checkpoints.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from writing.library.store import Autosaver, DraftStore  # noqa: E402 - after the path fix on purpose

SIZES = (10, 200, 4_000, 60_000, 300_000)


def content_for(draft_id: str, version: int) -> str:
    """Deterministic text of a version: header + CJK + filler whose length depends on the version."""
    digest = hashlib.sha256(f"{draft_id}:{version}".encode()).hexdigest()
    size = SIZES[int(digest[:2], 16) % len(SIZES)]
    body = (f"v{version} 草稿 {digest} ") * (size // 80 + 1)
    return f"# {draft_id} version {version}\n\n{body[:size]}"


def main() -> int:
    path, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    store = DraftStore(path)
    print("READY", flush=True)
    while True:
        saver = Autosaver(store, user=f"user{rng.randint(1, 2)}", kind=rng.choice(["blog", "code", "chat"]),
                          title=f"crash test {seed}", every_s=0.0)
        saver.start(text="")
        if saver.draft_id is None:
            print(f"ERROR {saver.error}", flush=True)
            return 1
        print(f"SAVED {saver.draft_id} 0 {saver.user}", flush=True)  # version 0 is the empty start text
        for version in range(1, rng.randint(3, 12)):
            text = content_for(saver.draft_id, version)
            final = version % 5 == 0
            ok = saver.finish(text, "done") if final else saver.update(text)
            if not ok:
                print(f"ERROR {saver.error}", flush=True)
                return 1
            print(f"SAVED {saver.draft_id} {version} {saver.user}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
