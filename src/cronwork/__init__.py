"""cronwork: a correct, fast, observable job scheduler."""
