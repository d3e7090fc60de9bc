"""Everything a user asks of the graph: coverage rules, linkage, org charts."""
