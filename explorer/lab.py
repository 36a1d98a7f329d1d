"""The beta Lab's family as the app shows it: `web/lab/lab.json`, written by `python -m train lab` (train/lab.py).

The family is one 2-D continuous VAE trained at several betas (Higgins et al. 2017), each with snapshots during
training; each snapshot holds its test rate and distortion (nats per digit, Alemi et al. 2018), each dimension's
KL, the sample digits' posterior means and its page decoder. The page draws them (web/lab.js); this module reads
the file and says, from its figures, which region of the rate-distortion curve each beta is in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LAB_FILE = Path(__file__).resolve().parent.parent / "web" / "lab" / "lab.json"
COLLAPSED_RATE = 0.5  # nats: a run whose test rate ends below this has a collapsed posterior (q(z|x) ~ p(z))
# A run whose digits lie inside the manifold grid's square this often or more fills the prior: the prior itself puts
# 87% of its mass there (0.933 per dimension); at 0.6, 70% of that. The shipped family's runs lie at 11% and 51% (beta
# 0.1, 0.3: spread past the prior), then 71% and more (docs/models.md, "The beta Lab").
FILLED = 0.6


class LabError(RuntimeError):
    """The Lab's file is missing or not one `python -m train lab` wrote (a one-line message)."""


def read_lab(path: str | Path = LAB_FILE) -> dict:
    """The Lab's family (lab.json: model, test, grid, digits, family [{beta, snapshots: [{step, epoch, decoder,
    rate, distortion, kl, neighbors_same_class, inside_grid, means}]}]), betas ascending. Raises LabError."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"the beta Lab's family is not there ({path}): make it with `python -m train lab`")
    try:
        lab = json.loads(path.read_text())
        family = lab["family"]
        final = [member["snapshots"][-1] for member in family]
        if not family or any(not {"rate", "distortion", "kl", "means"} <= set(s) for s in final):
            raise KeyError("snapshots")
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise LabError(f"{path} is not a beta Lab file written by `python -m train lab` ({error})") from None
    return lab


@dataclass(frozen=True)
class Region:
    """A stretch of the family's rate-distortion curve: its name, the members in it (indices into the family),
    and what the class sees there, with the measured figures."""

    name: str
    members: tuple[int, ...]
    caption: str


def region_of(snapshot: dict) -> str:
    """A trained member's region, from its last snapshot's figures: `collapsed` (rate below COLLAPSED_RATE),
    `spread` (the posteriors spread past the prior: fewer than FILLED of the digits inside the grid's square),
    else `organised`."""
    if snapshot["rate"] < COLLAPSED_RATE:
        return "collapsed"
    return "spread" if snapshot["inside_grid"] < FILLED else "organised"


def _span(values: list[float], form: str) -> str:
    low, high = min(values), max(values)
    return form.format(low) if form.format(low) == form.format(high) else f"{form.format(low)}-{form.format(high)}"


def regions(lab: dict) -> list[Region]:
    """The family's regions along the curve, from the largest rate to the smallest (region_of), each captioned
    with its members' measured figures (their last snapshots: rate, distortion, map neighbours of the same class,
    digits inside the grid's square)."""
    family = lab["family"]
    found: dict[str, list[int]] = {}
    for i, member in enumerate(family):
        found.setdefault(region_of(member["snapshots"][-1]), []).append(i)
    out = []
    for name in ("spread", "organised", "collapsed"):
        if name not in found:
            continue
        members = tuple(found[name])
        last = [family[i]["snapshots"][-1] for i in members]
        figures = {
            "betas": _span([family[i]["beta"] for i in members], "{:g}"),
            "rate": _span([s["rate"] for s in last], "{:.1f}"),
            "distortion": _span([s["distortion"] for s in last], "{:.0f}"),
            "neighbors": _span([100 * s["neighbors_same_class"] for s in last], "{:.0f}"),
            "inside": _span([100 * s["inside_grid"] for s in last], "{:.0f}"),
        }
        out.append(Region(name, members, CAPTIONS[name].format(**figures)))
    return out


# What the class sees in each region, written from the shipped family's figures and pictures (docs/models.md,
# "The beta Lab"); the numbers are filled in from the file.
CAPTIONS = {
    "spread": ("Spread past the prior (beta {betas}): rate {rate} nats, distortion {distortion} nats. More rate, and "
               "no better reconstructions than the organised runs: the extra KL is the codes spreading out (only "
               "{inside}% of the digits inside the grid's square), not more about each digit. So the manifold grid, "
               "drawn where the prior puts its mass, shows blends of a few shapes; {neighbors}% of the map's "
               "neighbours share a class."),
    "organised": ("Organised (beta {betas}): rate {rate} nats, distortion {distortion} nats. The codes fill the "
                  "prior ({inside}% of the digits inside the grid's square; the prior's own share is 87%), so the "
                  "manifold grid morphs from one digit to the next; {neighbors}% of the map's neighbours share a "
                  "class. The larger beta, the fewer nats and the blurrier the reconstructions."),
    "collapsed": ("Collapsed (beta {betas}): rate {rate} nats, distortion {distortion} nats. The KL costs more "
                  "than any code saves: every posterior is the prior, the map is one blob ({neighbors}% of the "
                  "neighbours share a class; 10% by chance), and every reconstruction and grid cell is the same "
                  "average digit."),
}
