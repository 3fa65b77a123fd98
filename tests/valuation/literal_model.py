"""A slow, literal reading of VALUATION.md, to pit the fast `valuation.backfeed` against.

Plain dicts and lists, every sum recomputed from scratch, `Decimal.__pow__` called directly, and
each step written as the text says it. It assumes valid events (the rules are tested elsewhere).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from valuation import UNIT, Event, parse_amount, resolve_params
from valuation.arithmetic import CONTEXT


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(context=CONTEXT))


class LiteralModel:
    def __init__(self) -> None:
        self.params: Any = None
        self.reputation: dict[str, int] = {}
        self.tokens: dict[str, int] = {}
        self.referrer: dict[str, str | None] = {}
        # contribution id -> {"author", "type", "fund", "max", "evaluations": [[k, v, index]]}
        self.contributions: dict[str, dict[str, Any]] = {}

    def R(self) -> int:
        return sum(self.reputation.values())

    def _add_member(self, key: str, referrer: str | None, reputation: int, tokens: int) -> None:
        self.reputation[key] = reputation
        self.tokens[key] = tokens
        self.referrer[key] = referrer

    def apply(self, event: Event) -> None:
        body = event.body
        if event.kind == "network.genesis":
            self.params = resolve_params(body["valuation"])
            for founder in body["founders"]:
                self._add_member(
                    founder["member"],
                    founder.get("referrer"),
                    parse_amount(founder["reputation"]),
                    parse_amount(founder["tokens"]),
                )
        elif event.kind == "network.params":
            self.params = resolve_params(body["valuation"])
        elif event.kind == "member.join":
            self._add_member(
                event.author,
                body.get("referrer"),
                self.params.initial_reputation,
                self.params.initial_tokens,
            )
        elif event.kind == "contribution.submit":
            kind = body.get("type") or sorted(self.params.contribution_types)[0]
            ctype = self.params.contribution_types[kind]
            self.tokens[event.author] -= ctype.fee
            self.contributions[event.id] = {
                "author": event.author,
                "type": kind,
                "fund": ctype.evaluator_token_fund,
                "max": None,
                "evaluations": [],
            }
        elif event.kind == "evaluation.cast":
            with localcontext(CONTEXT):
                self._evaluate(event.author, body["contribution"], body["value"], event.index)

    def weight(self, c: dict[str, Any], value: int | None) -> int:
        return sum(
            self.reputation[k] for k, v, _ in c["evaluations"] if value is None or v == value
        )

    def _evaluate(self, k: str, cid: str, v: int, index: int) -> None:
        p = self.params
        c = self.contributions[cid]
        t = p.contribution_types[c["type"]]
        # 1.
        had = any(e[0] == k for e in c["evaluations"])
        c["evaluations"] = [e for e in c["evaluations"] if e[0] != k] + [[k, v, index]]
        # 2.
        if p.reward_tokens_to_evaluators and not had:
            N = self.R() - (self.weight(c, None) - self.reputation[k])
            if N > 0:
                share = _round(Decimal(c["fund"]) * Decimal(self.reputation[k]) / Decimal(N))
                self.tokens[k] += share
                c["fund"] -= share
        # 3.
        r_k = self.reputation[k]
        V, W, U, R = self.weight(c, None), self.weight(c, v), self.weight(c, 1), self.R()
        # 4.
        if r_k > 0:
            fee = t.stake * Decimal(r_k) * (1 - (Decimal(V) / Decimal(R)) ** p.beta)
            self.reputation[k] -= _round(fee)
        # 5.
        if W > 0:
            for i, value, _ in c["evaluations"]:
                if i == k or value != v:
                    continue
                gain = _round(
                    Decimal(self.reputation[i]) * t.distribution_stake * Decimal(r_k) / Decimal(W)
                )
                self.reputation[i] += gain
                referrer = self.referrer[i]
                if referrer is not None:
                    self.reputation[referrer] += _round(p.referral_reward_fraction * gain)
        # 6.
        if v != 0:
            score = _round(Decimal(U) * UNIT / Decimal(R)) if R else 0
            m = c["max"]
            threshold = t.reward_threshold * UNIT
            if m is None or score > m:
                if m is not None and m >= threshold:
                    base = score - m
                elif score > threshold:
                    base = score
                else:
                    base = 0
                c["max"] = score
                if base > 0:
                    author = c["author"]
                    paid_tokens = _round(t.token_reward_factor * base)
                    paid_reputation = _round(t.reputation_reward_factor * base)
                    self.tokens[author] += paid_tokens
                    self.reputation[author] += paid_reputation
                    referrer = self.referrer[author]
                    if referrer is not None:
                        self.tokens[referrer] += _round(p.referral_reward_fraction * paid_tokens)
                        self.reputation[referrer] += _round(
                            p.referral_reward_fraction * paid_reputation
                        )
