"""Workloads: clients that drive a deployment and record every operation in a History."""
