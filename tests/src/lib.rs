//! End-to-end tests of `at-modem` live in `tests/`; this library is empty.
