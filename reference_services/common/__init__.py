"""Building blocks shared by the four reference services.

settings, logging, events, messaging, storage, health, metrics and the app factory. Nothing here
knows about a particular service, and nothing here imports `harness`.
"""
