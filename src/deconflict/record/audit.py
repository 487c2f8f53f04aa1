"""Auditing a log from its entries alone: what `deconflict log verify` reports.

It holds the checks that need no service: the entries in order, the signed checkpoints and
the log's public key. It must never stop at the first problem nor report a problem it has
not located as precisely as the evidence allows: each finding names its kind and, where
it can be known, the entry.

What each check catches:
- an entry whose `index` is not its position: removed (a gap), inserted (a repeat) or
  reordered entries;
- an entry whose `prev` is not the leaf hash of the entry before it: that entry before it
  was altered (or this one, if its `prev` was rewritten);
- the subtree hashes the store holds, when it gives them: an altered entry exactly (its
  leaf hash), an altered stored subtree hash (proofs are served from them), an entry the
  stored tree does not hold (inserted) and stored leaves with no entry (removed);
- a checkpoint whose signature fails, or whose root is not the root of the entries up to
  its size: a forged checkpoint, or entries changed after it was signed;
- two checkpoints of the same size with different roots: a forked log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from deconflict.record.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from deconflict.record.entries import parse_entry
from deconflict.record.errors import BadSignature, MalformedNote, NotCanonical
from deconflict.record.merkle import EMPTY_ROOT, node_hash
from deconflict.record.note import NoteVerifier

KINDS = (
    "unreadable",
    "altered",
    "removed",
    "inserted",
    "reordered",
    "bad_signature",
    "bad_checkpoint",
    "fork",
)
"""Every kind of finding, in the order a report lists them."""

NodeLookup = Callable[[int, int], "bytes | None"]
"""(level, index) -> the subtree hash the store holds there, or None if it holds none."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with the log."""

    kind: str
    """One of KINDS."""
    message: str
    """One sentence naming what is wrong and where."""
    index: int | None = None
    """The entry it concerns, when known."""


@dataclass
class AuditReport:
    """The outcome of an audit: sizes, roots and every finding."""

    size: int = 0
    """Entries read."""
    root: bytes = b""
    """Root of the entries as read."""
    checkpoints: int = 0
    """Signed checkpoints that verified against the entries."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, message: str, index: int | None = None) -> None:
        self.findings.append(Finding(kind, message, index))


def audit(
    entries: Iterable[bytes],
    checkpoints: Sequence[str | bytes],
    log_key: NoteVerifier,
    *,
    origin: str | None = None,
    stored_leaves: Mapping[int, bytes] | None = None,
    stored_nodes: NodeLookup | None = None,
    stored_size: int | None = None,
    max_findings: int = 1000,
) -> AuditReport:
    """Check `entries` (in log order) against the signed `checkpoints` of `log_key`.

    `stored_leaves` (index -> leaf hash as the store holds it) lets the audit name an
    altered entry even when the tamperer also rewrote the next entry's `prev`;
    `stored_nodes` (every level) also checks each stored subtree hash, and `stored_size`
    (the leaves the store holds) names entries inserted or removed at the end.
    """
    report = AuditReport()
    heads = _verified_heads(report, checkpoints, log_key, origin)
    lookup = stored_nodes
    if lookup is None and stored_leaves is not None:
        leaves = stored_leaves
        lookup = lambda level, index: leaves.get(index) if level == 0 else None  # noqa: E731
    check = None if lookup is None else _NodeCheck(report, lookup).put
    # The tree is folded here, not through MerkleTree: the audit keeps only the compact
    # range (the complete subtrees covering the entries read, largest first), and this
    # loop runs once per entry of the whole log.
    compact: list[bytes] = []
    size = 0
    sha256 = hashlib.sha256
    claimed: list[int] = []
    prev: bytes | None = None
    last_good = 0  # size of the last checkpoint the entries matched
    for position, raw in enumerate(entries):
        leaf = sha256(b"\x00" + raw).digest()
        index = _claimed_index(report, position, raw, prev, claimed)
        claimed.append(index)
        if lookup is not None:
            _check_leaf(report, lookup, stored_size, index if index >= 0 else position, leaf)
        node, level, i = leaf, 0, position
        if check is not None:
            check(0, i, node)
        while i & 1:  # this leaf completes subtrees: merge them as RFC 9162 does
            node = sha256(b"\x01" + compact.pop() + node).digest()
            level, i = level + 1, i >> 1
            if check is not None:
                check(level, i, node)
        compact.append(node)
        size = position + 1
        prev = leaf
        head = heads.get(size)
        if head is not None:
            if head.root_hash == _fold(compact):
                report.checkpoints += 1
                last_good = head.tree_size
            else:
                report.add(
                    "bad_checkpoint",
                    f"Entries {last_good} to {head.tree_size - 1} do not have the root that "
                    f"the signed checkpoint of size {head.tree_size} holds: they were changed "
                    "after it was signed, or the checkpoint is forged.",
                )
        if len(report.findings) >= max_findings:
            report.add("unreadable", f"The audit stopped after {max_findings} findings.")
            break
    report.size = size
    report.root = _fold(compact)
    _order_findings(report, claimed)
    # Entries missing after the last one read: fewer than a checkpoint or the store's
    # tree holds. A gap before the last entry was named above, so count from the highest
    # index read, not from the number of entries.
    end = max(size, max(claimed, default=-1) + 1)
    signed = max(heads, default=0)
    if signed > end:
        report.add(
            "removed",
            f"The signed checkpoint of size {signed} covers {_entries(signed - end)} more "
            f"than the {end} read: entries were removed from the end.",
            end,
        )
    elif stored_size is not None and stored_size > end:
        report.add(
            "removed",
            f"The store's tree holds {stored_size} leaves, {_entries(stored_size - end)} "
            f"more than the {end} read: entries were removed from the end.",
            end,
        )
    return report


def _fold(compact: list[bytes]) -> bytes:
    """The root of the tree whose compact range is `compact` (RFC 9162's MTH)."""
    if not compact:
        return EMPTY_ROOT
    root = compact[-1]
    for left in reversed(compact[:-1]):
        root = node_hash(left, root)
    return root


def _check_leaf(
    report: AuditReport, lookup: NodeLookup, stored_size: int | None, index: int, leaf: bytes
) -> None:
    """The entry that says it is `index` must be the leaf the store holds there."""
    stored = lookup(0, index)
    if stored is None:
        if stored_size is not None and index >= stored_size:
            report.add(
                "inserted",
                f"Entry {index} is not in the tree the store holds ({_entries(stored_size)}): "
                "it was written beside the log, not appended to it.",
                index,
            )
        elif stored_size is not None:
            report.add(
                "altered",
                f"The store holds no leaf hash for entry {index}: the tree was altered.",
                index,
            )
    elif stored != leaf:
        report.add(
            "altered",
            f"Entry {index} was altered: its bytes no longer hash to the leaf hash the tree holds.",
            index,
        )


def _verified_heads(
    report: AuditReport,
    checkpoints: Sequence[str | bytes],
    log_key: NoteVerifier,
    origin: str | None,
) -> dict[int, Checkpoint]:
    heads: dict[int, Checkpoint] = {}
    for number, note in enumerate(checkpoints, 1):
        try:
            checkpoint = verify_checkpoint(note, log_key, origin=origin).checkpoint
        except (BadSignature, MalformedNote) as exc:
            size = _size_of(note)
            where = f"of size {size}" if size is not None else f"number {number}"
            report.add("bad_signature", f"The checkpoint {where} does not verify: {exc}")
            continue
        seen = heads.get(checkpoint.tree_size)
        if seen is not None and seen.root_hash != checkpoint.root_hash:
            report.add(
                "fork",
                f"Two checkpoints of size {checkpoint.tree_size} sign different roots: "
                "the log was forked or rewritten.",
            )
            continue
        heads[checkpoint.tree_size] = checkpoint
    return heads


def _claimed_index(
    report: AuditReport, position: int, raw: bytes, prev: bytes | None, claimed: list[int]
) -> int:
    """The index the entry at `position` says it has (-1 if unreadable); checks its link
    to the entry before when both sit where they say."""
    try:
        entry = parse_entry(raw)
    except NotCanonical as exc:
        report.add("unreadable", f"Entry {position} cannot be read: {exc}", position)
        return -1
    index = int(entry["index"])
    in_place = index == position and (position == 0 or claimed[-1] == position - 1)
    expected = "" if prev is None else prev.hex()
    if in_place and entry["prev"] != expected:
        report.add(
            "altered",
            f"Entry {position - 1} was altered: entry {position} records another hash for "
            f"it (or entry {position}'s link was rewritten).",
            position - 1,
        )
    return index


def _order_findings(report: AuditReport, claimed: list[int]) -> None:
    """Removed, inserted and reordered entries, from the indices the entries claim.

    A moved entry is one outside the longest run of entries in increasing order, so
    swapping two entries names those two, not everything between them.
    """
    seen: set[int] = set()
    readable: list[tuple[int, int]] = []  # (position, index), first occurrences only
    for position, index in enumerate(claimed):
        if index < 0:
            continue
        if index in seen:
            report.add(
                "inserted",
                f"Entry {position} repeats index {index}: an entry was inserted or copied.",
                position,
            )
            continue
        seen.add(index)
        readable.append((position, index))
    indices = [i for _, i in readable]
    if any(b < a for a, b in zip(indices, indices[1:], strict=False)):
        kept = _increasing(indices)
        for k, (position, index) in enumerate(readable):
            if k not in kept:
                report.add(
                    "reordered",
                    f"Entry {index} sits at position {position}: entries were reordered.",
                    position,
                )
    highest = max(indices, default=-1)
    for first, last in _runs(i for i in range(highest + 1) if i not in seen):
        what = f"Entry {first} is" if first == last else f"Entries {first} to {last} are"
        report.add("removed", f"{what} missing: removed from the log.", first)


def _increasing(values: list[int]) -> set[int]:
    """Positions of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []  # tails[k]: position of the smallest tail of a run of length k+1
    before: list[int] = [-1] * len(values)
    for k, v in enumerate(values):
        lo = _bisect_tails(values, tails, v)
        if lo > 0:
            before[k] = tails[lo - 1]
        if lo == len(tails):
            tails.append(k)
        else:
            tails[lo] = k
    out: set[int] = set()
    k = tails[-1] if tails else -1
    while k >= 0:
        out.add(k)
        k = before[k]
    return out


def _bisect_tails(values: list[int], tails: list[int], v: int) -> int:
    lo, hi = 0, len(tails)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[tails[mid]] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


class _NodeCheck:
    """Compares each complete subtree the audit computes with the one the store holds.

    Leaves are compared by the index their entry claims (in `_check_leaf`), so moved
    entries are named as moved, not altered. A higher subtree is named only when both
    subtrees below it matched: then the stored hash itself was changed, and a changed
    entry or a gap is not reported again at every level above it.
    """

    def __init__(self, report: AuditReport, lookup: NodeLookup) -> None:
        self._report, self._lookup = report, lookup
        self._ok: dict[tuple[int, int], bool] = {}

    def put(self, level: int, index: int, node: bytes) -> None:
        match = self._lookup(level, index) == node
        if level == 0:
            self._ok[(0, index)] = match
            return
        below = self._ok.pop((level - 1, 2 * index), False)
        below = self._ok.pop((level - 1, 2 * index + 1), False) and below
        if below and not match:
            first, last = index << level, ((index + 1) << level) - 1
            self._report.add(
                "altered",
                f"The stored subtree hash at level {level}, index {index} (entries {first} "
                f"to {last}) was altered: it is not the hash of the two below it, so "
                "proofs served through it would not verify.",
            )
        self._ok[(level, index)] = match and below


def _size_of(note: str | bytes) -> int | None:
    try:
        return parse_checkpoint(note)[0].tree_size
    except MalformedNote:
        return None


def _entries(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"
