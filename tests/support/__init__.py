"""Helpers shared by the tests (and the benchmarks): file generators (`fixtures`), a small
synthetic corpus in a real store (`corpus`), a saved answer (`answers`), and the app's
handlers as its events call them (`app`)."""
