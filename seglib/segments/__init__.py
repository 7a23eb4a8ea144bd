"""Segment assembly: clusters (and later rules and propensity tiers) into versioned Delta segment tables."""
