"""Notebook functions that only draw stay out of the shared module unless kept code uses them.

A call to such a function (`plot_scatter(df, "Hebbal")`, see `analysis/summaries.py:
draws_only`) is display code and is stripped like any plotting call; the function itself is
then dead code in `common.py`, with the plotting imports it needs. It stays only where a kept
step refers to it (`df.groupby(k).apply(plot_group)`) or a kept definition calls it.
"""

from __future__ import annotations

from nb2pipe.analysis.cells import Definition


def without_unused_drawing(definitions: list[Definition],
                           used: set[str]) -> list[Definition]:
    """`definitions` minus the drawing-only ones that neither the names kept steps use nor
    a kept definition refers to (transitively)."""
    kept = {id(d) for d in definitions if not d.draws_only or d.name in used}
    while True:
        refs = {n for d in definitions if id(d) in kept for n in d.free}
        more = {id(d) for d in definitions if id(d) not in kept and d.name in refs}
        if not more:
            return [d for d in definitions if id(d) in kept]
        kept |= more
