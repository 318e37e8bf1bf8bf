"""Benchmarks of Freddy streams against django-eventstream (`make bench`)."""
