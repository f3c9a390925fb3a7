"""Consumer-driven contracts (Pact specification V4) between the ALT_LAS services.

Consumer tests (`consumer/`) state what each service expects of another: HTTP interactions driven
through the gateway's real clients against Pact's mock server, and the pipeline's events fed to the
real handlers. They write the pact files; `pacts/` holds the committed ones. Provider tests
(`provider/`) replay those pacts against the running services (HTTP) or against the messages the
producers' real code builds (events). `test_contract_gates.py` fails when a committed pact is not
what the consumers now produce, or was not verified by its provider in the same run.
"""
