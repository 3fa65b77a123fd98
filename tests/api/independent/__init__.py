"""A client of SPEC.md written from the text alone: it imports nothing of ours."""
