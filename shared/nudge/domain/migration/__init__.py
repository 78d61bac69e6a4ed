"""Migration from other engagement tools (Amazon Pinpoint): pure conversions, no AWS SDK."""
