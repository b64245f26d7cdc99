"""Helpers shared by the tests (and the benchmarks): file generators (`fixtures`), the one
minimal PDF writer (`pdf`), a small synthetic corpus in a real store (`corpus`), a saved
answer (`answers`), and the app's handlers as its events call them (`app`)."""
