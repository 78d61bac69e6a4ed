"""Migration from other engagement tools (Amazon Pinpoint): applying converted data."""
