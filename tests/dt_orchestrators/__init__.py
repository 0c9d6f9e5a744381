"""Durable Task orchestrators the tests record on the SDK's in-memory backend (``shop``) and
edited copies of them (``edits_*``), whose line numbers the tests assert."""
