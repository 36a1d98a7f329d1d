"""The beta Lab's family as the app shows it: `web/lab/lab.json`, written by `python -m train lab` (train/lab.py).

The family is one 2-D continuous VAE trained at several betas (Higgins et al. 2017), each with snapshots during
training; each snapshot holds its test rate and distortion (nats per digit, Alemi et al. 2018), each dimension's
KL, the sample digits' posterior means and its page decoder. The page draws them (web/lab.js); this module reads
the file and says, from its figures, which region of the rate-distortion curve each beta ends in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .explore import INACTIVE_KL
from .files import lfs_pointer_hint

LAB_FILE = Path(__file__).resolve().parent.parent / "web" / "lab" / "lab.json"
DIGIT_NATS = math.log(10)  # a code of less rate than this cannot tell the ten digits apart
SNAPSHOT_KEYS = {"step", "epoch", "decoder", "rate", "distortion", "kl", "neighbors_same_class", "inside_grid", "means"}


class LabError(RuntimeError):
    """The Lab's file is missing or not one `python -m train lab` wrote (a one-line message)."""


def read_lab(path: str | Path = LAB_FILE) -> dict:
    """The Lab's family (lab.json: model, test, grid (n*n, 2), digits {labels, reconstructed, pixels}, family
    [{beta, snapshots: [{step, epoch, decoder, rate, distortion, kl, neighbors_same_class, inside_grid, means}]}]),
    every member with the same snapshot steps. Raises LabError (one line) for a missing file, a Git LFS pointer,
    or a file that lacks any of these."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"the beta Lab's family is not there ({path}): make it with `python -m train lab`")
    try:
        lab = json.loads(path.read_text())
        family, steps = lab["family"], [s["step"] for s in lab["family"][0]["snapshots"]]
        if not lab["grid"] or not lab["digits"]["reconstructed"] or not lab["digits"]["pixels"]:
            raise KeyError("grid, digits")
        for member in family:
            float(member["beta"])
            if [s["step"] for s in member["snapshots"]] != steps:
                raise KeyError(f"beta {member['beta']}'s snapshot steps differ from the first member's")
            if missing := SNAPSHOT_KEYS - set().union(*member["snapshots"]):
                raise KeyError(", ".join(sorted(missing)))
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise LabError(f"{path} is not a beta Lab file written by `python -m train lab` ({error})."
                       + lfs_pointer_hint(path)) from None
    return lab


def spread(snapshot: dict) -> float:
    """How far a snapshot's codes spread: the largest mean square of a dimension's posterior means over the Lab's
    digits, E[mu_d^2]. The aggregate posterior's variance in dimension d is E[mu_d^2] + E[sigma_d^2]; the prior's
    is 1, so above 1 the codes spread past the prior."""
    means = snapshot["means"]
    return max(sum(m[d] ** 2 for m in means) / len(means) for d in range(len(means[0])))


def region_of(snapshot: dict) -> str:
    """A trained member's region, from its last snapshot's figures: `collapsed` (every dimension's KL below
    explore.INACTIVE_KL: the posteriors are the prior), `fading` (a rate below log 10 nats: too little to tell
    the ten digits apart), `spread` (the codes spread past the prior: spread() > 1), else `organised`."""
    if all(kl < INACTIVE_KL for kl in snapshot["kl"]):
        return "collapsed"
    if snapshot["rate"] < DIGIT_NATS:
        return "fading"
    return "spread" if spread(snapshot) > 1 else "organised"


@dataclass(frozen=True)
class Region:
    """A stretch of the family's rate-distortion curve: its name, the members in it (indices into the family),
    and what the class sees there, with the measured figures."""

    name: str
    members: tuple[int, ...]
    caption: str


def _span(values: list[float], form: str) -> str:
    low, high = form.format(min(values)), form.format(max(values))
    return low if low == high else f"{low}-{high}"


def regions(lab: dict) -> list[Region]:
    """The family's regions along the curve, from the largest rate to the smallest (region_of), each captioned
    with its members' measured figures at the end of training (rate, distortion, spread, digits inside the grid's
    square, digits whose 5 nearest neighbours on the map vote for their class) and the untrained model's
    neighbour figure (step 0) as the baseline."""
    family = lab["family"]
    found: dict[str, list[int]] = {}
    for i, member in enumerate(family):
        found.setdefault(region_of(member["snapshots"][-1]), []).append(i)
    untrained = family[0]["snapshots"][0]
    out = []
    for name in ("spread", "organised", "fading", "collapsed"):
        if name not in found:
            continue
        members = tuple(found[name])
        last = [family[i]["snapshots"][-1] for i in members]
        figures = {
            "betas": _span([family[i]["beta"] for i in members], "{:g}"),
            "rate": _span([s["rate"] for s in last], "{:.1f}"),
            "distortion": _span([s["distortion"] for s in last], "{:.0f}"),
            "spread": _span([spread(s) for s in last], "{:.1f}"),
            "neighbors": _span([100 * s["neighbors_same_class"] for s in last], "{:.0f}"),
            "inside": _span([100 * s["inside_grid"] for s in last], "{:.0f}"),
            "untrained": f"{100 * untrained['neighbors_same_class']:.0f}",
            "least": f"{min(m['snapshots'][-1]['distortion'] for m in family):.0f}",
        }
        out.append(Region(name, members, CAPTIONS[name].format(**figures)))
    return out


# What the class sees in each region, written from the shipped family's figures and pictures (docs/models.md,
# "The beta Lab"); the numbers are filled in from the file.
CAPTIONS = {
    "spread": ("Spread past the prior (beta {betas}, at the end of training): rate {rate} nats, distortion "
               "{distortion} nats (the family's least: {least}). The codes spread wider than the prior (the "
               "largest mean square of a dimension's codes: {spread}; the prior's variance is 1) and {inside}% of "
               "the digits lie in the grid's square: more rate, and no better reconstructions. The manifold grid, drawn where the "
               "prior puts its mass, misses digits and shows blends."),
    "organised": ("Organised (beta {betas}, at the end of training): rate {rate} nats, distortion {distortion} "
                  "nats. The codes fill the prior without spilling past it ({inside}% of the digits in the grid's "
                  "square), and the manifold grid morphs from one digit to the next; the reconstructions are "
                  "blurrier than at smaller beta."),
    "fading": ("Fading (beta {betas}, at the end of training): rate {rate} nats, below the log 10 = 2.3 nats it "
               "takes to name a digit; distortion {distortion} nats. The codes crowd into the prior's centre, the "
               "grid holds a few blurred shapes and {neighbors}% of the digits are of the class their 5 nearest "
               "neighbours on the map vote for ({untrained}% for the untrained model)."),
    "collapsed": ("Collapsed (beta {betas}, at the end of training): rate {rate} nats, distortion {distortion} "
                  "nats. The KL costs more than any code saves: every posterior is the prior, the map is one dot, "
                  "and every reconstruction and grid cell is the same average digit."),
}
