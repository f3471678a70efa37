"""Benchmarks of alohub_async against FakeAlohub: run ``python -m benchmarks``.

See docs/performance.md.
Modules: ``p1_listing``, ``p2_cpu``, ``p3_memory``, ``p4_details``, ``scaling``; ``profile``
profiles the client; ``_server`` runs the fake in its own process.
"""
