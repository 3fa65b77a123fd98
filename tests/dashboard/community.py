"""A small community on the `dmag` preset that touches every cause of a posting.

Founders Ann and Bonnie (Bonnie referred by Ann); Cleo (referred by Bonnie), Dan (referred by
Ann) and Eve join. Contributions of both types; first evaluations that draw on the evaluator
fund; agreements that pay alignment rewards and referral shares; upvotes that pay contributors
and their referrers; and two changed votes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Engine

from ledger.service import Appended, Ledger
from tests.helpers import Signer, new_ledger


@dataclass
class Community:
    ledger: Ledger
    members: dict[str, Signer]
    contributions: dict[str, str] = field(default_factory=dict)  # name -> entry id

    def append(self, entry: dict[str, Any]) -> Appended:
        result = self.ledger.append([entry])[0]
        assert isinstance(result, Appended), result
        return result


def build(engine: Engine, log_key: SigningKey) -> Community:
    names = ["Ann", "Bonnie", "Cleo", "Dan", "Eve"]
    members = {name: Signer("demo") for name in names}
    ann, bonnie, cleo, dan, eve = (members[n] for n in names)
    founders = [
        {"member": ann.public, "name": "Ann", "reputation": "100", "tokens": "50"},
        {
            "member": bonnie.public,
            "name": "Bonnie",
            "reputation": "60",
            "tokens": "30",
            "referrer": ann.public,
        },
    ]
    community = Community(new_ledger(engine, log_key, "dmag", founders), members)
    add = community.append
    add(cleo.join("Cleo", referrer=bonnie.public))
    add(dan.join("Dan", referrer=ann.public))
    add(eve.join("Eve"))
    c = community.contributions
    c["guide"] = add(cleo.submit("Translate the onboarding guide", type="article")).id
    c["typo"] = add(bonnie.submit("Fix the typos in chapter 2", type="comment")).id
    add(ann.evaluate(c["guide"], 1))
    add(bonnie.evaluate(c["guide"], 1))
    add(cleo.evaluate(c["typo"], 0))
    add(ann.evaluate(c["typo"], 1))
    add(cleo.evaluate(c["typo"], 1))  # a changed vote
    c["review"] = add(dan.submit("Review the glossary", type="article")).id
    add(cleo.evaluate(c["review"], 1))
    add(bonnie.evaluate(c["review"], 1))
    add(eve.evaluate(c["review"], 0))
    add(bonnie.evaluate(c["guide"], 0))  # another changed vote
    add(ann.evaluate(c["review"], 1))
    return community
