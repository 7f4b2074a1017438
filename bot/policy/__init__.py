"""The flag/report decision: :mod:`~bot.policy.policy` (windows, cool-down, exemptions),
:mod:`~bot.policy.sensitivity` (presets), :mod:`~bot.policy.targeting` (is a message aimed
at someone? its cue lists in ``cues/``) and :mod:`~bot.policy.version` (the revision stored
on every flag). Pure and synchronous; imports nothing of the runtime.

Nothing is imported here, so that settings can read a sensitivity without loading the cue
lists; :mod:`~bot.policy.errors` is as light, for the command line to name a broken one.
"""
