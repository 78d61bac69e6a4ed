"""The console's pages, one Powertools Router per page group."""
