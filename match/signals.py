"""Signals other apps hook into without the match app knowing them."""

from django.dispatch import Signal

# Sent inside the transaction that records a match's result, once per match (the conditional
# UPDATE in ``match_finish`` makes sure). kwargs: ``match_id`` (str), ``result`` (dict),
# ``aborted`` (bool). A receiver that raises rolls the result back with it.
match_finished = Signal()
