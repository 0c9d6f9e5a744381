"""Edited copies of the shop's orchestrators, one module per edit (each defines the recorded
orchestrator's name). Each edited line carries a ``# edit`` comment the tests find."""
