//! process driver (in progress)
