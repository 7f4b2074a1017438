"""chatwarden's model side: normalisation, scorers, word lists, neural networks, their
training (with an optional distillation teacher, :mod:`model.training.teacher`) and evaluation.

``bot`` imports :mod:`model.scorer` only; nothing here imports ``bot`` or ``storage``.
"""
