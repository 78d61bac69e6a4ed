"""The embedded local stack (dev and test tooling; never shipped in the Lambda layer).

moto server for DynamoDB/SQS/S3 built from template.yaml, a local HTTP gateway for the
template's routes, SQS event-source emulation, and a virtual clock driving the schedule.
"""
