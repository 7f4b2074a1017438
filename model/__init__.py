"""chatwarden's model side: scoring on the CPU and its offline life.

The runtime surface, what ``bot`` uses while it watches chat: :mod:`model.scorer` (the
``Score`` / ``Scorer`` / ``Explainer`` interface), :mod:`model.loading` (the one factory and
cache writer), :mod:`model.cache`, :mod:`model.rules` with its lexicons in ``lexicon/``,
:mod:`model.neural` and what it loads (``bundle``, ``networks``, ``tokenizer``,
``normalize``), :mod:`model.registry` and :mod:`model.errors`. Offline: :mod:`model.training`
and :mod:`model.evaluation`, with the data readers :mod:`model.data` and
:mod:`model.chatlogs`. The runtime never imports the offline packages, and nothing here
imports ``bot`` or ``storage`` (both checked by the import contracts in pyproject.toml).
"""
