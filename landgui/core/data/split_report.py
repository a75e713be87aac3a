"""What ``landgui split`` prints about a split: images per class and split (and per source), the
duplicate groups and label conflicts, the skipped files and the warnings (:func:`summary_table`)."""

from __future__ import annotations

from landgui.core.data.scan import is_ignored
from landgui.core.data.split import SPLITS, split_warnings


def summary_table(manifest: dict) -> str:
    """The text ``landgui split`` prints: images per class and split (and per source when there are
    several), the duplicate groups and label conflicts, and the skipped files."""
    classes = manifest["classes"]
    w = max([len(c) for c in classes] + [5])
    lines = [f"{'class':<{w}}  {'train':>7} {'val':>7} {'test':>7} {'total':>7}"]
    lines.append("-" * len(lines[0]))
    tot = dict.fromkeys(SPLITS, 0)
    for c in classes:
        row = manifest["counts"][c]
        for s in SPLITS:
            tot[s] += row[s]
        lines.append(f"{c:<{w}}  {row['train']:>7} {row['val']:>7} {row['test']:>7} {sum(row.values()):>7}")
    lines.append("-" * len(lines[0]))
    lines.append(f"{'total':<{w}}  {tot['train']:>7} {tot['val']:>7} {tot['test']:>7} {sum(tot.values()):>7}")
    by_source = manifest.get("counts_by_source") or {}
    if len(by_source) > 1:
        sw = max([len(n) for n in by_source] + [6])
        lines += ["", f"{'source':<{sw}}  {'class':<{w}}  {'train':>7} {'val':>7} {'test':>7} {'total':>7}"]
        for name, rows in by_source.items():
            for c in classes:
                if c in rows:
                    r = rows[c]
                    lines.append(
                        f"{name:<{sw}}  {c:<{w}}  {r['train']:>7} {r['val']:>7} {r['test']:>7} {sum(r.values()):>7}"
                    )
    groups = manifest["duplicate_groups"]
    n_exact = sum(1 for g in groups if g["kind"] == "exact")
    n_pixels = sum(1 for g in groups if g["kind"] == "same pixels")
    n_conf = sum(1 for g in groups if g["conflict"])
    lines.append("")
    lines.append(
        f"duplicate groups: {len(groups)} ({n_exact} exact, {n_pixels} same pixels, "
        f"{len(groups) - n_exact - n_pixels} near; "
        f"{sum(len(g['members']) for g in groups)} files), each kept in one split"
    )
    if n_conf:
        lines.append(f"label conflicts: {n_conf} group(s), {len(manifest['excluded'])} files excluded")
        for g in groups:
            if g["conflict"]:
                lines.append("  " + "  <->  ".join(f"{m['path']}" for m in g["members"]))
    # a README.txt beside the class folders was left out by design: ignored, not unusable
    ignored = [b["path"] for b in manifest["skipped"] if is_ignored(b["reason"])]
    skipped = [b for b in manifest["skipped"] if not is_ignored(b["reason"])]
    lines.append(f"skipped files: {len(skipped)}" + (f" (ignored: {', '.join(ignored[:5])})" if ignored else ""))
    for b in skipped[:20]:
        lines.append(f"  {b['path']}: {b['reason']}")
    if len(skipped) > 20:
        lines.append(f"  ... and {len(skipped) - 20} more (see split.json)")
    lines += [f"warning: {w}" for w in split_warnings(manifest)]
    return "\n".join(lines)
