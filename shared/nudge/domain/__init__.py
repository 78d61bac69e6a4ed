"""Pure domain logic: plain functions over models and a clock. No AWS in here."""
