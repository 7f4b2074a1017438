"""Training: networks fitted on the labelled sets, distillation from a teacher, pseudo labels
and Meta Pseudo Labels, tracked runs, shipping a model, fetching data. Never imported by the
runtime scorers."""
