"""A slow, literal reading of docs/valuation/backfeed2.md, to pit the fast `valuation.backfeed2`
against and to compute the vectors in tests/vectors/backfeed2-*.json.

Plain dicts; every sum (R, W(c, v), U, U_prev) recomputed from scratch whenever it is read;
each step written as the text says it. It assumes valid events (the rules are tested elsewhere)
and imports nothing of `valuation` but the parameter reader and the amount codec.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from valuation import Event, format_amount, parse_amount, resolve_params

S = 10**27
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)


def _round(parameter: Decimal, amount: int) -> int:
    """round(p * a): 34 digits, half-even, then half-even to a whole unit."""
    return int(_CONTEXT.multiply(parameter, Decimal(amount)).to_integral_value(context=_CONTEXT))


def _score(upvotes: int, reachable: int) -> int:
    """U * 10^9 / D(c), rounded half-even to a whole unit (in 34 digits, as the text says);
    0 when D(c) is not above 0."""
    if reachable <= 0:
        return 0
    quotient = _CONTEXT.divide(Decimal(upvotes * 10**9), Decimal(reachable))
    return int(quotient.to_integral_value(context=_CONTEXT))


class LiteralModel2:
    def __init__(self) -> None:
        self.params: Any = None
        self.log_key = ""
        # key -> {"name", "referrer", "r", "t", "joined", "received"}
        self.members: dict[str, dict[str, Any]] = {}
        self.issued = 0  # R*
        # id -> {"author", "type", "index", "max", "A", "E", "D", "held", "evaluations":
        # {k: {...}}}; "held" maps each member to what it held at the submission; an
        # evaluation is {"value", "index", "weight", "marker", "carry", "paid", "opened"}
        self.contributions: dict[str, dict[str, Any]] = {}
        self.values_cast: dict[str, list[int]] = {}  # contribution -> values ever cast
        self.postings: list[tuple[str, str, int, str, str | None, str | None]] = []

    # -- figures, recomputed from scratch ----------------------------------------------------

    def R(self) -> int:
        return sum(member["r"] for member in self.members.values())

    def W(self, cid: str, value: int) -> int:
        evaluations = self.contributions[cid]["evaluations"].values()
        return sum(e["weight"] for e in evaluations if e["value"] == value)

    def D(self, cid: str) -> int:
        """The reputation that can weigh on c: R* less what the author held, both as they
        were when c was submitted."""
        return int(self.contributions[cid]["D"])

    def pending(self, key: str) -> int:
        total = 0
        for c in self.contributions.values():
            e = c["evaluations"].get(key)
            if e is not None and e["marker"] is not None:
                total += (e["weight"] * (c["A"] - e["marker"]) + e["carry"]) // S
        return total

    # -- "Settling a member's claims" --------------------------------------------------------

    def settle(self, key: str) -> None:
        member = self.members[key]
        claims = [
            (c["evaluations"][key]["opened"], cid)
            for cid, c in self.contributions.items()
            if key in c["evaluations"] and c["evaluations"][key]["marker"] is not None
        ]
        for _, cid in sorted(claims):  # in the order of the casts that opened them
            c = self.contributions[cid]
            e = c["evaluations"][key]
            if c["A"] == e["marker"]:
                continue
            owed = e["weight"] * (c["A"] - e["marker"]) + e["carry"]
            pay = owed // S
            e["carry"] = owed % S
            e["marker"] = c["A"]
            e["paid"] += pay
            member["r"] += pay
            if pay > 0:
                self.post(key, "reputation", pay, "alignment_reward", cid, None)

    def post(
        self, key: str, asset: str, amount: int, cause: str, cid: str | None, k: str | None
    ) -> None:
        self.postings.append((key, asset, amount, cause, cid, k))

    # -- entries ---------------------------------------------------------------------------

    def apply(self, event: Event) -> list[tuple[str, str, int, str, str | None, str | None]]:
        self.postings = []
        body = event.body
        kind = event.kind
        if kind == "network.genesis":
            self.params = resolve_params(body["valuation"])
            self.log_key = event.author
            for founder in body["founders"]:
                key = founder["member"]
                r, t = parse_amount(founder["reputation"]), parse_amount(founder["tokens"])
                self.members[key] = {
                    "name": founder["name"],
                    "referrer": founder.get("referrer"),
                    "r": r,
                    "t": t,
                    "joined": 0,
                    "received": 0,
                }
                if t:
                    self.post(key, "tokens", t, "genesis", None, None)
                if r:
                    self.post(key, "reputation", r, "genesis", None, None)
                self.issued += r
        elif kind == "network.params":
            if event.author in self.members:
                self.settle(event.author)
            self.params = resolve_params(body["valuation"])
        elif kind == "member.join":
            key = event.author
            referrer = body.get("referrer")
            self.members[key] = {
                "name": body["name"],
                "referrer": referrer,
                "r": 0,
                "t": 0,
                "joined": event.index,
                "received": 0,
            }
            if referrer is not None:
                self.settle(referrer)
                stake = _round(self.params.referral_stake, self.members[referrer]["r"])
                self.members[referrer]["r"] -= stake
                self.members[key]["r"] += stake
                self.members[key]["received"] = stake
                if stake:
                    self.post(referrer, "reputation", -stake, "referral_stake", None, None)
                    self.post(key, "reputation", stake, "referral_stake", None, None)
        elif kind == "contribution.submit":
            author = event.author
            kind_name = body.get("type") or sorted(self.params.contribution_types)[0]
            fee = self.params.contribution_types[kind_name].fee
            self.settle(author)
            self.members[author]["t"] -= fee
            if fee:
                self.post(author, "tokens", -fee, "fee", event.id, None)
            held = {key: m["r"] + self.pending(key) for key, m in self.members.items()}
            self.contributions[event.id] = {
                "author": author,
                "type": kind_name,
                "index": event.index,
                "max": None,
                "A": 0,
                "E": 0,
                "D": self.issued - held[author],
                "held": held,
                "evaluations": {},
            }
            self.values_cast[event.id] = []
        elif kind == "evaluation.cast":
            self.cast(event)
        return self.postings

    def cast(self, event: Event) -> None:
        k, cid, v = event.author, event.body["contribution"], event.body["value"]
        c = self.contributions[cid]
        ctype = self.params.contribution_types[c["type"]]
        # 0. Settle k.
        self.settle(k)
        if v not in self.values_cast[cid]:
            self.values_cast[cid].append(v)
        e = c["evaluations"].get(k)
        if e is not None:
            # 1. and 3. A re-cast.
            old = e["value"]
            e["value"], e["index"] = v, event.index
            if v == old:
                return
            e["marker"] = None  # W(c, v) follows from the values: the weight has moved.
            if v == 1:
                score = _score(self.W(cid, 1), self.D(cid))
                if c["max"] is None or c["max"] < score:
                    c["max"] = score
            return
        # 2. A first cast: freeze the weight.
        member = self.members[k]
        if k == c["author"]:
            w = 0
        else:
            w = c["held"].get(k, 0)  # 0 when k was not a member at the submission
            if member["referrer"] == c["author"]:
                w -= member["received"]
            w = max(w, 0)
        e = c["evaluations"][k] = {
            "value": v,
            "index": event.index,
            "weight": w,
            "marker": None,
            "carry": 0,
            "paid": 0,
            "opened": event.index,
        }
        if v != 1 or w == 0:
            return
        # 4. Contributor reward.
        U = self.W(cid, 1)
        score = _score(U, self.D(cid))
        m = c["max"]
        theta = _CONTEXT.multiply(ctype.reward_threshold, Decimal(10**9))
        if m is None or score > m:
            if m is not None and m > theta:
                base = score - m
            elif score > theta:
                base = score
            else:
                base = 0
            c["max"] = score
            if base > 0:
                tokens = _round(ctype.token_reward_factor, base)
                reputation = _round(ctype.reputation_reward_factor, base)
                to_author = _round(_CONTEXT.subtract(Decimal(1), ctype.evaluator_share), reputation)
                E = reputation - to_author
                author = self.members[c["author"]]
                author["t"] += tokens
                author["r"] += to_author
                self.issued += to_author
                if tokens:
                    self.post(c["author"], "tokens", tokens, "contributor_reward", cid, k)
                if to_author:
                    self.post(c["author"], "reputation", to_author, "contributor_reward", cid, k)
                U_prev = U - w
                if E > 0 and U_prev > 0:
                    increment = E * S // U_prev
                    c["A"] += increment
                    c["E"] += E
                    self.issued += E
                    # k's referrer and the members k referred: markers up by the increment.
                    for j, e_j in c["evaluations"].items():
                        family = (
                            j == self.members[k]["referrer"] or self.members[j]["referrer"] == k
                        )
                        if family and e_j["marker"] is not None:
                            e_j["marker"] += increment
        # 2.3 Open k's claim after the addition.
        e["marker"] = c["A"]
        e["carry"] = 0

    # -- records, as the text's table writes them ------------------------------------------

    def records(self) -> dict[str, dict[str, Any]]:
        params = self.params.to_json()
        out: dict[str, dict[str, Any]] = {
            "network": {
                "algorithm": params["algorithm"],
                "params": params["params"],
                "total_reputation": format_amount(self.R()),
                "issued_reputation": format_amount(self.issued),
            }
        }
        for key, m in self.members.items():
            out[f"member/{key}"] = {
                "name": m["name"],
                "referrer": m["referrer"],
                "reputation": format_amount(m["r"]),
                "tokens": format_amount(m["t"]),
            }
        for cid, c in self.contributions.items():
            out[f"contribution/{cid}"] = {
                "author": c["author"],
                "type": c["type"],
                "index": c["index"],
                "max_score": None if c["max"] is None else format_amount(c["max"]),
                "weights": {
                    str(v): format_amount(self.W(cid, v)) for v in sorted(self.values_cast[cid])
                },
                "accumulator": str(c["A"]),
                "shared": format_amount(c["E"]),
            }
            for k, e in c["evaluations"].items():
                out[f"evaluation/{cid}/{k}"] = {
                    "value": e["value"],
                    "index": e["index"],
                    "weight": format_amount(e["weight"]),
                    "marker": None if e["marker"] is None else str(e["marker"]),
                    "carry": str(e["carry"]),
                    "paid": format_amount(e["paid"]),
                }
        return out
