"""chatwarden's model side: normalisation, scorers, word lists and (later) neural networks.

``bot`` imports :mod:`model.scorer` only; nothing here imports ``bot`` or ``storage``.
"""
