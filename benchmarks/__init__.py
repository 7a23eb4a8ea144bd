"""Speed and memory benchmarks of seglib (``make bench``); targets live here, never in unit tests."""
