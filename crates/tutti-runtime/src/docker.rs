//! docker driver (in progress)
