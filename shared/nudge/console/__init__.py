"""The web console: server-rendered pages over the admin API, signed in with OIDC.

A backend for the browser: it holds no AWS data permission. Every read and change is an
admin API call signed with the console function's role (admin_client.py), so validation,
audit and storage stay where the CLI's calls go too (docs/console.md).
"""
