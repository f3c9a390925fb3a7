"""Locust load profiles for ALT_LAS: journeys, shapes, the open workload model, SLOs, reports.

Locust is gevent-based: nothing here imports the harness's asyncio code.
"""
