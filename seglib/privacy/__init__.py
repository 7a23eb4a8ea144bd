"""Privacy by design for ingest: pseudonyms, PII minimisation, consent, identity stitching, erasure and vacuum."""
