"""The analysis the checks draw on, each piece used by more than one check or front end:
kink scanning (``kinkscan``), mean-field signal propagation (``meanfield``), memory
accounting (``memory``) and benchmarking (``bench``). It reads subjects; it knows
nothing of checks or results."""
