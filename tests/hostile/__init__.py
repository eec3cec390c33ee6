"""A corpus of hostile and broken submissions, built from the course's own notebooks (see corpus.py)."""
