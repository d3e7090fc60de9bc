"""The web API: GraphQL (FastAPI + strawberry) at /graphql, and the private endpoints
through which a CLI command hands its work to a running serve (``local``)."""
