"""The web dashboard: a companion to Slack, served by ``dayshift run`` in the same process and event loop.

It reads and changes a shift through the same ShiftControl, store and workflow queries as the Slack
listeners, so validation and error texts are the same everywhere.
"""
