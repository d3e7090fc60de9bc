"""Coverage rules as data: packs of rules, one engine, three store back ends."""

from grassroots.queries.coverage.engine import Report, RuleResult, coverage
from grassroots.queries.coverage.rules import Rule, load_packs

__all__ = ["Report", "Rule", "RuleResult", "coverage", "load_packs"]
