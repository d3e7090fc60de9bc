"""The graph out of the store in formats other tools read (GraphML, GEXF)."""
