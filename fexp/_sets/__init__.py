"""Many experiments in one folder: the set store and the operations on a set."""
