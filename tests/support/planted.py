"""A planted unsound certificate: a certify results file with its radii inflated (the soundness checks' positive
control)."""

import json

from rsmooth_ext.cli.results import CONFIG_PREFIX, read_results


def inflate_radii(source, target, radius: float = 10.0) -> None:
    """Write ``source``'s rows to ``target`` with every non-abstaining radius set to ``radius``."""
    results = read_results(str(source))
    lines = [CONFIG_PREFIX + json.dumps(results.config, sort_keys=True), "\t".join(results.columns)]
    for row in results.rows:
        if row["prediction"] != -1:
            row["radius"] = radius
        lines.append("\t".join(repr(row[c]) if isinstance(row[c], float) else str(row[c]) for c in results.columns))
    target.write_text("\n".join(lines) + "\n")
