"""Adapters behind small ports: DynamoDB, SQS, and in-memory fakes for tests."""
